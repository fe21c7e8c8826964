"""Settings of the ingest service (env prefix ``INGEST_``)."""

from pydantic_settings import SettingsConfigDict

from parley.kit.settings import ServiceSettings


class IngestSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="INGEST_", extra="ignore", populate_by_name=True)

    service_name: str = "ingest"
    port: int = 8081
    database_schema: str = "ingest"
