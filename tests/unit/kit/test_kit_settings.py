"""Settings refuse the repository's dev-only secrets anywhere but development."""

from __future__ import annotations

import pytest
from pydantic import SecretStr, ValidationError
from pydantic_settings import SettingsConfigDict

from parley.kit.settings import ServiceSettings

DEV_DATABASE_URL = "postgresql+asyncpg://parley_widget:dev-only-widget-db@127.0.0.1:54329/parley"


class WidgetSettings(ServiceSettings):
    """A service's settings as every service writes them: own prefix, dev defaults for secrets."""

    model_config = SettingsConfigDict(env_prefix="WIDGET_", extra="ignore", populate_by_name=True)

    webhook_secret: SecretStr = SecretStr("dev-only-webhook-secret")
    app_secrets: list[SecretStr] = [SecretStr("dev-only-app-secret")]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    names = ("PARLEY_ENV", "parley_env", "WIDGET_WEBHOOK_SECRET", "WIDGET_APP_SECRETS", "WIDGET_DATABASE_URL")
    for name in names:
        monkeypatch.delenv(name, raising=False)


def test_development_accepts_the_dev_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARLEY_ENV", "development")
    monkeypatch.setenv("WIDGET_DATABASE_URL", DEV_DATABASE_URL)

    settings = WidgetSettings()

    assert settings.env == "development"
    assert settings.webhook_secret.get_secret_value() == "dev-only-webhook-secret"
    assert settings.database_url.get_secret_value() == DEV_DATABASE_URL


def test_development_is_the_default() -> None:
    assert WidgetSettings().env == "development"


@pytest.mark.parametrize("environment", ["production", "test"])
def test_dev_secrets_are_refused_outside_development_naming_each_field(
    monkeypatch: pytest.MonkeyPatch, environment: str,
) -> None:
    monkeypatch.setenv("PARLEY_ENV", environment)
    monkeypatch.setenv("WIDGET_DATABASE_URL", DEV_DATABASE_URL)

    with pytest.raises(ValidationError) as refused:
        WidgetSettings()

    message = str(refused.value)
    assert f"PARLEY_ENV={environment}" in message
    for field in ("app_secrets", "database_url", "webhook_secret"):
        assert field in message


def test_production_accepts_real_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARLEY_ENV", "production")
    monkeypatch.setenv("WIDGET_DATABASE_URL", "postgresql+asyncpg://parley_widget:s3cr3t@db:5432/parley")
    monkeypatch.setenv("WIDGET_WEBHOOK_SECRET", "a-real-secret")
    monkeypatch.setenv("WIDGET_APP_SECRETS", '["first-real-secret", "second-real-secret"]')

    settings = WidgetSettings()

    assert settings.env == "production"
    assert [s.get_secret_value() for s in settings.app_secrets] == ["first-real-secret", "second-real-secret"]


def test_one_leftover_dev_secret_is_enough_to_refuse(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARLEY_ENV", "production")
    monkeypatch.setenv("WIDGET_WEBHOOK_SECRET", "a-real-secret")
    monkeypatch.setenv("WIDGET_APP_SECRETS", '["a-real-one", "dev-only-app-secret"]')

    with pytest.raises(ValidationError, match="app_secrets") as refused:
        WidgetSettings()
    assert "webhook_secret" not in str(refused.value)


def test_consumers_on_the_realtime_path_fetch_with_the_short_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = WidgetSettings()

    assert settings.fetch_wait_ms(("message.received",)) == settings.consumer_realtime_fetch_wait_ms == 20
    assert settings.fetch_wait_ms(("user.changed", "conversation.changed")) == 20
    assert settings.fetch_wait_ms(("message.status",)) == settings.consumer_fetch_wait_ms == 100


def test_fetch_waits_and_realtime_topics_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WIDGET_CONSUMER_FETCH_WAIT_MS", "250")
    monkeypatch.setenv("WIDGET_CONSUMER_REALTIME_FETCH_WAIT_MS", "10")
    monkeypatch.setenv("WIDGET_CONSUMER_REALTIME_TOPICS", "message.status, webhook.received")

    settings = WidgetSettings()

    assert settings.consumer_realtime_topics == ["message.status", "webhook.received"]
    assert settings.fetch_wait_ms(("message.status",)) == 10
    assert settings.fetch_wait_ms(("message.received",)) == 250
