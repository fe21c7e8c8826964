"""Settings of the egress service (env prefix ``EGRESS_``)."""

from pydantic_settings import SettingsConfigDict

from parley.kit.settings import ServiceSettings


class EgressSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="EGRESS_", extra="ignore", populate_by_name=True)

    service_name: str = "egress"
    port: int = 8086
    database_schema: str = "egress"
