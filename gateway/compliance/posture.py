"""The settings that matter for the Limited Use rules, and what weakens them (shown in red).

Values only where they are not secrets: a database is named by its kind, an OPA URL by its
scheme and host, a key by its id; never a password, token or path to a secret.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from gateway.settings import Environment, KeyProviderKind, Settings


def _item(name: str, value: Any, *, weakens: bool = False, note: str = "") -> dict[str, Any]:
    return {"setting": name, "value": value, "weakens": weakens, "note": note}


def _against_default(settings: Settings, field: str, name: str, note: str, *,
                     weaker_when_lower: bool = False) -> dict[str, Any]:
    """A setting that weakens a rule when it moves away from its default in one direction; the
    threshold is the setting's own default, read from `Settings`."""
    value = getattr(settings, field)
    default = Settings.model_fields[field].default
    weakens = bool(value < default if weaker_when_lower else value > default)
    return _item(name, value, weakens=weakens, note=note.format(default=default) if weakens else "")


def _policy_engine(settings: Settings) -> list[dict[str, Any]]:
    url = settings.policy_engine_url
    if not url:
        return [_item("GATEWAY_POLICY_ENGINE_URL", "embedded (compiled Wasm of the policy)")]
    parts = urlsplit(url)
    authenticated = (settings.policy_engine_token is not None
                     or settings.policy_engine_client_cert_file is not None)
    where = "unix socket" if parts.scheme == "unix" else f"{parts.scheme}://{parts.hostname}"
    items = [_item("GATEWAY_POLICY_ENGINE_URL", where,
                   weakens=not authenticated,
                   note="" if authenticated else
                   "the OPA sidecar is unauthenticated: anything on its network path could "
                   "answer for it (no GATEWAY_POLICY_ENGINE_TOKEN or client certificate)"),
             _item("policy bundle required", settings.policy_engine_bundle_required,
                   weakens=not settings.policy_engine_bundle_required,
                   note="" if settings.policy_engine_bundle_required else
                   "the sidecar need not prove it runs the signed policy bundle")]
    return items


def posture(settings: Settings, *, signing_key_id: str) -> dict[str, Any]:
    prod = settings.environment is Environment.prod
    items = [
        _item("GATEWAY_ENVIRONMENT", settings.environment.value, weakens=not prod,
              note="" if prod else "not production: unsafe settings are not refused"),
        _item("database", "sqlite" if settings.is_sqlite else "postgresql",
              weakens=settings.is_sqlite,
              note="SQLite: no append-only triggers or separate roles on the log"
              if settings.is_sqlite else ""),
        _item("GATEWAY_EMULATOR_URL", "set" if settings.uses_emulator else "unset",
              weakens=settings.uses_emulator,
              note="Google is the local emulator, not Google" if settings.uses_emulator
              else ""),
        _item("GATEWAY_KEY_PROVIDER", settings.key_provider.value,
              weakens=settings.key_provider is KeyProviderKind.local and prod,
              note="a local key file: one host, no separate key custody"
              if settings.key_provider is KeyProviderKind.local else ""),
        *_policy_engine(settings),
        _against_default(settings, "analytics_min_cohort", "GATEWAY_ANALYTICS_MIN_COHORT (k)",
                         "below the default of {default:g}", weaker_when_lower=True),
        _against_default(settings, "consent_grant_max_hours", "GATEWAY_CONSENT_GRANT_MAX_HOURS",
                         "longer than the default of {default:g} hours"),
        _against_default(settings, "justification_max_hours", "GATEWAY_JUSTIFICATION_MAX_HOURS",
                         "longer than the default of {default:g} hours"),
        _item("GATEWAY_AUDIT_RETENTION_DAYS", settings.audit_retention_days),
        _against_default(settings, "audit_checkpoint_every", "GATEWAY_AUDIT_CHECKPOINT_EVERY",
                         "a longer unsigned tail than the default of {default:g}"),
        _against_default(settings, "audit_checkpoint_seconds", "GATEWAY_AUDIT_CHECKPOINT_SECONDS",
                         "a longer unsigned tail than the default of {default:g} s"),
        _item("audit signing key id", signing_key_id),
        _item("GATEWAY_TRUSTED_PROXIES", settings.trusted_proxies or "none",
              note="these hosts may name the client address logged as the terminal"
              if settings.trusted_proxies else ""),
    ]
    as_prod = settings.model_copy(update={"environment": Environment.prod})
    refused = as_prod.problems_for_production()
    return {"items": items, "weakening": sum(1 for i in items if i["weakens"]),
            "refused_in_production": refused}
