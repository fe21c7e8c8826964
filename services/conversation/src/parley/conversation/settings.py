"""Settings of the conversation service (env prefix ``CONVERSATION_``)."""

from pydantic_settings import SettingsConfigDict

from parley.kit.settings import ServiceSettings


class ConversationSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CONVERSATION_", extra="ignore", populate_by_name=True)

    service_name: str = "conversation"
    port: int = 8082
    database_schema: str = "conversation"
