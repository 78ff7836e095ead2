"""`Settings`: the settings of gateway.settings.fields, and the checks that refuse to run
production on development values (SQLite, the emulator, generated or placeholder secrets, plain
http, an unauthenticated remote OPA server), naming every problem."""

from __future__ import annotations

from urllib.parse import urlsplit

from gateway.settings.fields import Environment, KeyProviderKind, SettingsFields, is_loopback_host

PLACEHOLDER_MARKERS = ("changeme", "change-me", "placeholder", "example", "secret", "xxx")


class UnsafeSettings(Exception):
    """Settings that must not run in this environment; the message lists every problem."""


class Settings(SettingsFields):
    """The gateway's configuration; `environment=prod` refuses every development default and
    says why (`check_safe`)."""

    def problems_for_production(self) -> list[str]:
        """Everything that makes these settings unsafe outside development."""
        problems: list[str] = []
        if self.environment is not Environment.prod:
            return problems
        if self.is_sqlite:
            problems.append("GATEWAY_DATABASE_URL points at SQLite; production needs PostgreSQL")
        if self.uses_emulator and not self.emulator_allowed:
            problems.append("GATEWAY_EMULATOR_URL is set; production must talk to real Google")
        if not self.google_client_id or self.google_client_secret is None:
            problems.append("GATEWAY_GOOGLE_CLIENT_ID/SECRET are not configured")
        if self.api_key_pepper is None:
            problems.append("GATEWAY_API_KEY_PEPPER is unset; a generated pepper is dev-only")
        if self.key_provider is KeyProviderKind.kms and not (self.kms_url and self.kms_key_name):
            problems.append("GATEWAY_KEY_PROVIDER=kms needs GATEWAY_KMS_URL and "
                            "GATEWAY_KMS_KEY_NAME")
        if not self.push_audience:
            problems.append("GATEWAY_PUSH_AUDIENCE is unset; the push endpoint must check the "
                            "audience configured on the Pub/Sub subscription")
        if not self.push_service_account:
            problems.append("GATEWAY_PUSH_SERVICE_ACCOUNT is unset; the push endpoint must know "
                            "which service account signs Pub/Sub's tokens")
        if not self.privacy_policy_url:
            problems.append("GATEWAY_PRIVACY_POLICY_URL is unset; the consent page must link the "
                            "privacy policy that discloses the Limited Use of Gmail data")
        problems.extend(self._policy_engine_problems())
        for name, value in self._secret_values():
            lowered = value.lower()
            if len(value) < 12 or any(marker in lowered for marker in PLACEHOLDER_MARKERS):
                problems.append(f"{name} looks like a placeholder secret")
        for name, url in (("GATEWAY_GOOGLE_TOKEN_URI", self.google_token_uri),
                          ("GATEWAY_GMAIL_API_ENDPOINT", self.gmail_api_endpoint),
                          ("GATEWAY_PUBLIC_BASE_URL", self.public_base_url),
                          ("GATEWAY_PUSH_CERTS_URI", self.push_certs_uri),
                          ("GATEWAY_PRIVACY_POLICY_URL", self.privacy_policy_url)):
            if url is None:  # unset: reported above
                continue
            if self.emulator_allowed and self._is_emulator_endpoint(url):
                continue  # the loopback emulator under the test-only switch
            if not url.startswith("https://"):
                problems.append(f"{name} must be https in production")
        return problems

    def _policy_engine_problems(self) -> list[str]:
        """An OPA server off this host must be reached over TLS and must know who asks."""
        if not self.policy_engine_url or self.policy_engine_url.startswith("unix://"):
            return []  # none, or a socket on this host's file system
        parts = urlsplit(self.policy_engine_url)
        if is_loopback_host(parts.hostname or ""):
            return []
        problems = []
        if parts.scheme != "https":
            problems.append("GATEWAY_POLICY_ENGINE_URL points at a non-loopback OPA server over "
                            "plain http; use https (GATEWAY_POLICY_ENGINE_CA_FILE) or an OPA "
                            "sidecar on 127.0.0.1")
        if self.policy_engine_token is None and self.policy_engine_client_cert_file is None:
            problems.append("GATEWAY_POLICY_ENGINE_URL points at a non-loopback OPA server "
                            "without authentication; set GATEWAY_POLICY_ENGINE_TOKEN (OPA "
                            "--authentication=token --authorization=basic) or "
                            "GATEWAY_POLICY_ENGINE_CLIENT_CERT_FILE (OPA --authentication=tls)")
        return problems

    def _secret_values(self) -> list[tuple[str, str]]:
        pairs: list[tuple[str, str]] = []
        if self.google_client_secret is not None:
            pairs.append(("GATEWAY_GOOGLE_CLIENT_SECRET",
                          self.google_client_secret.get_secret_value()))
        if self.api_key_pepper is not None:
            pairs.append(("GATEWAY_API_KEY_PEPPER", self.api_key_pepper.get_secret_value()))
        if self.kms_token is not None:
            pairs.append(("GATEWAY_KMS_TOKEN", self.kms_token.get_secret_value()))
        if self.policy_engine_token is not None:
            pairs.append(("GATEWAY_POLICY_ENGINE_TOKEN",
                          self.policy_engine_token.get_secret_value()))
        return pairs

    def check_safe(self) -> None:
        problems = self.problems_for_production()
        if problems:
            raise UnsafeSettings("refusing to start in prod: " + "; ".join(problems))
