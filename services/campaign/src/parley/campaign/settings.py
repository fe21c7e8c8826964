"""Settings of the campaign service (env prefix ``CAMPAIGN_``)."""

from pydantic_settings import SettingsConfigDict

from parley.kit.settings import ServiceSettings


class CampaignSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CAMPAIGN_", extra="ignore", populate_by_name=True)

    service_name: str = "campaign"
    port: int = 8084
    database_schema: str = "campaign"
