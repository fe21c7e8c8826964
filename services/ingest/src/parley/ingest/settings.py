"""Settings of the ingest service (env prefix ``INGEST_``)."""

from typing import Annotated

from pydantic import SecretStr, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from parley.kit.crypto import EncryptionSettings
from parley.kit.settings import ServiceSettings


class IngestSettings(ServiceSettings, EncryptionSettings):
    model_config = SettingsConfigDict(env_prefix="INGEST_", extra="ignore", populate_by_name=True)

    service_name: str = "ingest"
    port: int = 8081
    database_schema: str = "ingest"
    app_secrets: Annotated[list[SecretStr], NoDecode] = [SecretStr("dev-only-app-secret")]
    verify_token: SecretStr = SecretStr("dev-only-verify-token")
    admin_token: SecretStr = SecretStr("dev-only-admin-token")
    #: Concurrent group commits; more writers keep a slow fsync from holding up the next batch.
    intake_writers: int = 4
    intake_max_batch: int = 256
    gauges_interval_seconds: float = 15.0
    max_body_bytes: int = 3 * 1024 * 1024 + 256 * 1024
    inline_payload_bytes: int = 256 * 1024

    @property
    def app_secret_values(self) -> list[str]:
        return [secret.get_secret_value() for secret in self.app_secrets]

    @field_validator("app_secrets", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        """``INGEST_APP_SECRETS=a,b`` accepts several Meta app secrets at once (rotation, several apps)."""
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("app_secrets")
    @classmethod
    def _at_least_one(cls, value: list[SecretStr]) -> list[SecretStr]:
        if not value:
            raise ValueError("at least one Meta app secret is required")
        return value
