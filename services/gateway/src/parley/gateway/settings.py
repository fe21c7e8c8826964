"""Settings of the gateway service (env prefix ``GATEWAY_``)."""

from pydantic_settings import SettingsConfigDict

from parley.kit.settings import ServiceSettings


class GatewaySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore", populate_by_name=True)

    service_name: str = "gateway"
    port: int = 8080
    database_schema: str = "gateway"
