"""Production refuses the embedded, dev-only defaults and says why."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from gateway.app import create_app
from gateway.settings import Environment, KeyProviderKind, Settings, UnsafeSettings

GOOD = {"environment": Environment.prod,
            "database_url": "postgresql+psycopg://gw@db.internal/gateway",
            "google_client_id": "1234.apps.googleusercontent.com",
            "google_client_secret": SecretStr("GOCSPX-k3j4h5g6f7d8s9a0"),
            "api_key_pepper": SecretStr("9f8e7d6c5b4a39281706f5e4"),
            "key_provider": KeyProviderKind.kms, "kms_url": "https://vault.internal:8200",
            "kms_key_name": "gateway-kek", "public_base_url": "https://gateway.crm.example",
            "push_audience": "https://gateway.crm.example/v1/push/gmail",
            "push_service_account": "gmail-push@crm-prod.iam.gserviceaccount.com",
            "privacy_policy_url": "https://crm.example/privacy"}


def test_dev_defaults_are_fine_in_dev() -> None:
    assert Settings(environment=Environment.dev).problems_for_production() == []


def test_a_complete_production_configuration_passes() -> None:
    Settings(**GOOD).check_safe()


@pytest.mark.parametrize(("change", "complaint"), [
    ({"database_url": "sqlite:///var/gateway.db"}, "SQLite"),
    ({"emulator_url": "http://127.0.0.1:8765"}, "real Google"),
    ({"google_client_secret": SecretStr("changeme-please-123")}, "placeholder"),
    ({"api_key_pepper": None}, "PEPPER"),
    ({"api_key_pepper": SecretStr("short")}, "placeholder"),
    ({"kms_url": None}, "KMS_URL"),
    ({"public_base_url": "http://gateway.crm.example"}, "https"),
    ({"push_audience": None}, "PUSH_AUDIENCE"),
    ({"push_service_account": None}, "PUSH_SERVICE_ACCOUNT"),
    ({"privacy_policy_url": None}, "PRIVACY_POLICY_URL is unset"),
    ({"privacy_policy_url": "http://crm.example/privacy"}, "PRIVACY_POLICY_URL must be https"),
])
def test_production_refuses_unsafe_values(change: dict[str, object], complaint: str) -> None:
    settings = Settings(**{**GOOD, **change})
    with pytest.raises(UnsafeSettings, match=complaint):
        settings.check_safe()
    with pytest.raises(UnsafeSettings):
        create_app(settings)


def test_environment_variables_are_read_with_the_gateway_prefix(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_ENVIRONMENT", "test")
    monkeypatch.setenv("GATEWAY_ANALYTICS_MIN_COHORT", "75")
    settings = Settings()
    assert settings.environment is Environment.test
    assert settings.analytics_min_cohort == 75


def test_the_public_url_follows_the_port_unless_it_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_PORT", "9123")
    derived = Settings()
    assert derived.public_base_url == "http://127.0.0.1:9123"
    assert derived.oauth_redirect_uri == "http://127.0.0.1:9123/oauth/callback"
    assert derived.push_expected_audience == "http://127.0.0.1:9123/v1/push/gmail"
    monkeypatch.setenv("GATEWAY_PUBLIC_BASE_URL", "https://gw.example.test")
    assert Settings().public_base_url == "https://gw.example.test"


EMULATED = {**GOOD, "emulator_url": "http://127.0.0.1:8765",
            "push_certs_uri": "http://127.0.0.1:8765/oauth2/v1/certs"}


def test_prod_refuses_the_emulator_without_the_test_only_switch() -> None:
    with pytest.raises(UnsafeSettings, match="real Google"):
        Settings(**EMULATED).check_safe()
    allowed = Settings(**EMULATED, test_only_allow_emulator_in_prod=True)
    allowed.check_safe()
    assert allowed.emulator_allowed and allowed.google_token_uri.startswith("http://127.0.0.1")


@pytest.mark.parametrize(("change", "complaint"), [
    ({"emulator_url": "http://emulator.internal:8765"}, "real Google"),  # not on loopback
    ({"public_base_url": "http://gateway.crm.example"}, "PUBLIC_BASE_URL must be https"),
    ({"gmail_api_endpoint": "http://127.0.0.2:9000"}, "GMAIL_API_ENDPOINT must be https"),
    ({"google_client_secret": SecretStr("changeme-please-123")}, "placeholder"),
    ({"database_url": "sqlite:///var/gateway.db"}, "SQLite"),
])
def test_the_switch_allows_the_loopback_emulator_and_nothing_else(
        change: dict[str, object], complaint: str) -> None:
    settings = Settings(**{**EMULATED, "test_only_allow_emulator_in_prod": True, **change})
    with pytest.raises(UnsafeSettings, match=complaint):
        settings.check_safe()
