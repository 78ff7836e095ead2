"""Settings of an emulator instance and its runtime-switchable faults."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any


class _Switchable:
    """Runtime-adjustable settings: update known fields only, read back as a dict."""

    def update(self, values: dict[str, Any]) -> None:
        names = {f.name for f in fields(self)}
        for key, value in values.items():
            if key not in names:
                raise KeyError(key)
            setattr(self, key, value)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Settings(_Switchable):
    base_url: str = "http://127.0.0.1:8765"
    access_token_lifetime: int = 3599
    auth_code_lifetime: int = 600
    refresh_token_idle_expiry: int = 183 * 24 * 3600  # six months unused
    testing_mode_refresh_lifetime: int = 7 * 24 * 3600
    refresh_tokens_per_client: int = 100
    refresh_token_only_on_first_consent: bool = True
    history_retention_seconds: float = 7 * 24 * 3600
    inline_limit: int = 512 * 1024
    quota_enabled: bool = True
    quota_units_per_minute: int = 15_000
    quota_window_seconds: float = 60.0
    concurrency_limit: int = 10
    quota_status: int = 429
    watch_lifetime_seconds: int = 7 * 24 * 3600
    push_min_interval: float = 1.0
    push_url: str | None = None
    push_audience: str | None = None
    push_service_account: str = "gmail-push@emulator-project.iam.gserviceaccount.com"
    push_subscription: str = "projects/emulator-project/subscriptions/gmail-push"
    auto_create_users: bool = True
    batch_max_parts: int = 100


@dataclass
class Faults(_Switchable):
    """Faults switchable at runtime through ``/_emulator/faults``."""

    latency_ms: int = 0
    latency_jitter_ms: int = 0
    error_rate: float = 0.0  # share of Gmail calls answered 500/503
    error_status: int = 503
    drop_push_rate: float = 0.0
    # Scripted failures: [{"method": "gmail.users.messages.get", "status": 500, "count": 1}];
    # with "after": true the call takes effect first and its answer is replaced by the error.
    fail_next: list[dict[str, Any]] = field(default_factory=list)
    seed: int = 0
