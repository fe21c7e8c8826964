"""Settings of the flow-engine service (env prefix ``FLOW_ENGINE_``)."""

from pydantic_settings import SettingsConfigDict

from parley.kit.settings import ServiceSettings


class FlowEngineSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="FLOW_ENGINE_", extra="ignore", populate_by_name=True)

    service_name: str = "flow-engine"
    port: int = 8085
    database_schema: str = "flow_engine"
