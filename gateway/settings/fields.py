"""The settings read from the environment (prefix GATEWAY_): each one's type, default and
meaning, and the values derived from them.

Defaults are the embedded, zero-set-up ones for a developer: a SQLite file, the embedded policy
engine, a generated local key file, and the local Google emulator when no Google OAuth client is
configured.
"""

from __future__ import annotations

import ipaddress
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Self
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from gateway.settings.google import (
    EMULATOR_CLIENT_ID,
    EMULATOR_CLIENT_SECRET,
    EMULATOR_PATHS,
    EMULATOR_PUSH_SERVICE_ACCOUNT,
    EMULATOR_PUSH_TOPIC,
    GMAIL_API_ENDPOINT,
    GOOGLE_AUTH_URI,
    GOOGLE_CERTS_URI,
    GOOGLE_PUSH_CERTS_URI,
    GOOGLE_PUSH_ISSUERS,
    GOOGLE_REVOKE_URI,
    GOOGLE_TOKEN_URI,
    GOOGLE_USERINFO_URI,
    PUSH_PATH,
)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(raw: str) -> tuple[Network, ...]:
    """`10.0.0.0/8, 192.0.2.7` (commas or whitespace) → networks; a bad entry raises ValueError."""
    return tuple(ipaddress.ip_network(item, strict=False) for item in raw.replace(",", " ").split())


class Environment(StrEnum):
    dev = "dev"
    test = "test"
    prod = "prod"


class KeyProviderKind(StrEnum):
    local = "local"
    kms = "kms"


def is_loopback_host(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class SettingsFields(BaseSettings):
    """Every setting with its default, and the values derived from them; `Settings` adds the
    checks that refuse unsafe values in production."""

    model_config = SettingsConfigDict(env_prefix="GATEWAY_", env_file=None, extra="ignore")

    environment: Environment = Environment.dev
    database_url: str = "sqlite:///var/gateway.db"
    data_dir: Path = Path("var")

    key_provider: KeyProviderKind = KeyProviderKind.local
    key_file: Path = Path("var/keys/local-kek.json")
    kms_url: str | None = None
    kms_key_name: str | None = None
    kms_token: SecretStr | None = None

    policy_engine_url: str | None = Field(
        default=None, description="OPA server URL: http(s)://host:port, or unix:///path for a "
        "sidecar listening on a Unix domain socket (OPA --addr unix:///path); unset means the "
        "embedded engine")
    policy_dir: Path = Path("policies")
    policy_timeout_seconds: float = 2.0
    # Authentication with the OPA server (docs/operations.md, "The OPA sidecar").
    policy_engine_token: SecretStr | None = Field(
        default=None, description="Bearer token sent to the OPA server (OPA runs with "
        "--authentication=token --authorization=basic and the same value in its environment "
        "as GATEWAY_POLICY_ENGINE_TOKEN)")
    policy_engine_ca_file: Path | None = Field(
        default=None, description="CA certificate the OPA server's TLS certificate must chain "
        "to (https OPA URL)")
    policy_engine_client_cert_file: Path | None = Field(
        default=None, description="Client certificate (PEM) presented to the OPA server (OPA "
        "--authentication=tls)")
    policy_engine_client_key_file: Path | None = Field(
        default=None, description="The client certificate's private key (PEM)")
    policy_engine_require_bundle: bool | None = Field(
        default=None, description="The OPA server must report a bundle carrying the gateway's "
        "policy revision (the signed bundle of scripts/build_bundle.sh); unset: required in prod")
    analytics_min_cohort: int = Field(default=50, ge=2)
    consent_grant_max_hours: float = Field(default=4.0, gt=0)
    access_request_ttl_hours: float = Field(default=24.0, gt=0)
    # Longest a security/legal justification may run (docs/policy.md, "Justifications").
    justification_max_hours: float = Field(default=72.0, gt=0)

    google_client_id: str | None = None
    google_client_secret: SecretStr | None = None
    google_auth_uri: str = GOOGLE_AUTH_URI
    google_token_uri: str = GOOGLE_TOKEN_URI
    google_revoke_uri: str = GOOGLE_REVOKE_URI
    google_userinfo_uri: str = GOOGLE_USERINFO_URI
    google_certs_uri: str = GOOGLE_CERTS_URI
    gmail_api_endpoint: str = GMAIL_API_ENDPOINT
    emulator_url: str | None = Field(
        default=None, description="Base URL of the local Google emulator (dev/test only)")
    test_only_allow_emulator_in_prod: bool = Field(
        default=False, description="TEST ONLY: lets environment=prod run against a local "
        "emulator on loopback (its plain-http endpoints) and nothing else unsafe; the "
        "production-shaped test runs with it (tests/deploy/test_production_shape.py). Never "
        "set in a deployment")

    push_topic: str | None = Field(
        default=None, description="Pub/Sub topic users.watch publishes to (projects/P/topics/T); "
                                  "unset: no watches, changes arrive by polling only")
    push_audience: str | None = Field(
        default=None, description="The push subscription's OIDC audience; outside prod it "
                                  "defaults to public_base_url + /v1/push/gmail")
    push_service_account: str | None = Field(
        default=None, description="The service account the push subscription signs tokens as")
    push_issuers: list[str] = Field(default_factory=lambda: list(GOOGLE_PUSH_ISSUERS))
    push_certs_uri: str = GOOGLE_PUSH_CERTS_URI

    api_key_pepper: SecretStr | None = Field(
        default=None, description="HMAC key for API-key hashes; generated under data_dir in dev")
    api_key_cache_seconds: float = Field(
        default=5.0, ge=0, le=60, description="How long a worker trusts an API key it checked "
        "(a revocation from another process applies within this bound); 0 turns caching off")

    port: int = Field(default=8000, ge=1, le=65535, description="Port `gmail-gateway serve` "
                      "listens on (its --port wins)")
    public_base_url: str = Field(
        default="http://127.0.0.1:8000", description="The URL browsers and Google reach the "
        "gateway at (consent links, the OAuth callback); unset: http://127.0.0.1:PORT")
    trusted_proxies: str = Field(
        default="", description="Addresses or networks (comma-separated, e.g. `10.0.0.0/8`) of "
        "the load balancers whose Forwarded/X-Forwarded-* headers name the client; empty: the "
        "TCP peer is the client (docs/operations.md)")
    crm_redirect_allowlist: list[str] = Field(default_factory=list)
    privacy_policy_url: str | None = Field(
        default=None, description="The privacy policy linked from the pre-consent page")
    oauth_state_ttl_seconds: int = Field(default=600, ge=60, le=3600)
    oauth_keepalive_idle_days: int = Field(
        default=30, ge=1, le=150, description="Refresh tokens unused this long are refreshed "
        "by the keep-alive job (Google drops refresh tokens unused for six months)")

    # Writes through the mail API (docs/mail-api.md): Gmail refuses messages over 25 MB.
    mail_max_message_bytes: int = Field(
        default=25 * 1024 * 1024, ge=1024, description="Largest RFC 5322 message the gateway "
        "builds for send or a draft (413 message_too_large beyond)")
    mail_max_attachment_bytes: int = Field(
        default=25 * 1024 * 1024, ge=1, description="Largest single attachment, decoded "
        "(413 attachment_too_large beyond)")
    mail_idempotency_ttl_hours: float = Field(
        default=24.0, gt=0, le=24 * 30, description="How long an Idempotency-Key is remembered")

    audit_retention_days: int = Field(default=365, ge=365)
    # The unsigned tail's bound: entries after a chain's last signed checkpoint can be rewritten
    # undetectably by someone without the key, so keep the window small (docs/audit.md §3).
    audit_checkpoint_every: int = Field(
        default=100, ge=1, le=100_000, description="Sign a chain's head every N entries...")
    audit_checkpoint_seconds: float = Field(
        default=10.0, gt=0, le=3600, description="...or T seconds after its last checkpoint "
        "(the worker's audit-checkpoint task signs idle chains)")
    audit_shards: int = Field(default=8, ge=1, le=256)
    audit_signing_key_file: Path | None = Field(
        default=None, description="Ed25519 key signing checkpoints; generated under data_dir "
                                  "in dev/test, provisioned with `audit init-signing-key` in prod")

    # The compliance report (docs/compliance.md).
    compliance_junit_file: Path | None = Field(
        default=None, description="The pytest JUnit XML of the test run the deployed revision "
        "passed; the review console's report names it and shows each clause's test results")

    # Mailbox sync (docs/sync.md).
    sync_poll_interval_seconds: float = Field(
        default=300.0, gt=0, description="Sync a mailbox at least this often even without a "
        "push (pushes can be lost)")
    sync_lease_seconds: float = Field(
        default=10.0, gt=0, description="A worker's hold on a mailbox lasts this long after its "
        "last heartbeat: a dead worker's mailboxes are taken over this long after it stopped")
    sync_heartbeat_seconds: float = Field(
        default=2.0, gt=0, description="How often a worker extends its leases (at most a third "
        "of the lease)")
    sync_request_min_interval_seconds: float = Field(
        default=30.0, ge=0, description="An owner's sync request cuts a backoff short, but "
        "starts no attempt sooner than this after the last one")
    sync_metrics_port: int | None = Field(
        default=None, ge=1, le=65535, description="Serve the worker's Prometheus metrics on "
        "this port (`gmail-gateway worker`); unset: not served")
    sync_worker_concurrency: int = Field(default=4, ge=1, le=64)
    sync_idle_sleep_seconds: float = Field(default=1.0, gt=0)
    sync_in_process_worker: bool = Field(
        default=False, description="Run a sync worker thread inside the API process (the "
        "SQLite demo); production runs `gmail-gateway worker` processes")
    sync_quota_units_per_minute: int = Field(default=15_000, ge=1)
    sync_quota_window_seconds: float = Field(default=60.0, gt=0)
    sync_quota_target: float = Field(default=0.97, gt=0, le=1)
    sync_retry_attempts: int = Field(default=6, ge=1)
    sync_retry_base_seconds: float = Field(default=0.5, gt=0)
    sync_retry_cap_seconds: float = Field(default=32.0, gt=0)
    sync_backoff_base_seconds: float = Field(default=5.0, gt=0)
    sync_backoff_max_seconds: float = Field(default=900.0, gt=0)
    sync_timeout_seconds: float = Field(default=30.0, gt=0)

    # Webhooks to the CRM (docs/webhooks.md).
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    webhook_max_attempts: int = Field(default=12, ge=1, le=50)
    webhook_backoff_base_seconds: float = Field(default=30.0, gt=0)
    webhook_backoff_max_seconds: float = Field(default=6 * 3600.0, gt=0)
    webhook_concurrency: int = Field(default=4, ge=1, le=32)
    webhook_pass_seconds: float = Field(
        default=20.0, gt=0, description="How long one delivery pass (a worker's periodic task) "
        "keeps claiming due deliveries")
    webhook_retention_days: int = Field(default=7, ge=1)

    # The scheduler of periodic jobs (docs/deploy.md, "The scheduler").
    scheduler_purge_database_url: str | None = Field(
        default=None, description="The purge role's URL, for `audit-purge` alone; unset: "
        "GATEWAY_DATABASE_URL")
    scheduler_owner_database_url: str | None = Field(
        default=None, description="The owner role's URL, for `audit-maintain`; unset: "
        "GATEWAY_DATABASE_URL")
    scheduler_cadences: dict[str, float] = Field(
        default_factory=dict, description="Seconds between runs per job name (JSON)")
    scheduler_lease_seconds: float = Field(default=60.0, gt=0)
    scheduler_tick_seconds: float = Field(default=1.0, gt=0, le=60)
    scheduler_metrics_port: int | None = Field(
        default=None, ge=1, le=65535, description="Serves /metrics, /status, /healthz")

    # The HTTP edge (docs/operations.md, "The HTTP edge").
    http_body_read_timeout_seconds: float = Field(
        default=30.0, gt=0, le=600, description="Longest wait for the next part of a request "
        "body; a client that stalls longer gets 408 request_timeout and the connection closes")
    http_max_connections: int = Field(
        default=1000, ge=1, description="Open connections one server process accepts; one more "
        "is answered 503 connection_limit and closed")

    log_level: str = "INFO"

    @model_validator(mode="after")
    def _public_base_url_from_port(self) -> Self:
        """Without an explicit public URL, the gateway is where `serve` listens locally."""
        if "public_base_url" not in self.model_fields_set:
            self.public_base_url = f"http://127.0.0.1:{self.port}"
        return self

    @model_validator(mode="after")
    def _emulator_endpoints(self) -> Self:
        """With an emulator URL, the Google endpoints still at their defaults point at it."""
        if self.emulator_url:
            base = self.emulator_url.rstrip("/")
            for name, path in EMULATOR_PATHS.items():
                if name not in self.model_fields_set:
                    setattr(self, name, base + path)
            if self.google_client_id is None:
                self.google_client_id = EMULATOR_CLIENT_ID
                self.google_client_secret = SecretStr(EMULATOR_CLIENT_SECRET)
            if self.push_service_account is None:
                self.push_service_account = EMULATOR_PUSH_SERVICE_ACCOUNT
            if self.push_topic is None:
                self.push_topic = EMULATOR_PUSH_TOPIC
        return self

    @model_validator(mode="after")
    def _proxy_networks(self) -> Self:
        try:
            parse_networks(self.trusted_proxies)
        except ValueError as exc:
            raise ValueError(f"GATEWAY_TRUSTED_PROXIES: {exc}") from None
        return self

    @cached_property
    def trusted_proxy_networks(self) -> tuple[Network, ...]:
        return parse_networks(self.trusted_proxies)

    @property
    def push_expected_audience(self) -> str:
        """The audience push tokens must carry (prod refuses to start without an explicit one)."""
        return self.push_audience or self.public_base_url.rstrip("/") + PUSH_PATH

    @property
    def oauth_redirect_uri(self) -> str:
        """The callback registered with the Google OAuth client."""
        return self.public_base_url.rstrip("/") + "/oauth/callback"

    @cached_property
    def uses_emulator(self) -> bool:
        return self.emulator_url is not None

    @property
    def emulator_allowed(self) -> bool:
        """The emulator is configured and this environment may use it: dev and test, or prod
        under the test-only switch (a loopback emulator only)."""
        if not self.uses_emulator:
            return False
        if self.environment is not Environment.prod:
            return True
        return (self.test_only_allow_emulator_in_prod
                and is_loopback_host(urlsplit(self.emulator_url or "").hostname or ""))

    def _is_emulator_endpoint(self, url: str) -> bool:
        base = (self.emulator_url or "").rstrip("/")
        return bool(base) and (url == base or url.startswith(base + "/"))

    @property
    def policy_engine_bundle_required(self) -> bool:
        """Whether the OPA server must prove it loaded the policy as a bundle."""
        if self.policy_engine_require_bundle is not None:
            return self.policy_engine_require_bundle
        return self.environment is Environment.prod

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")
