"""Settings of the sender service (env prefix ``SENDER_``)."""

from pydantic_settings import SettingsConfigDict

from parley.kit.settings import ServiceSettings


class SenderSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SENDER_", extra="ignore", populate_by_name=True)

    service_name: str = "sender"
    port: int = 8083
    database_schema: str = "sender"
