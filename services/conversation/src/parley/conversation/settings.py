"""Settings of the conversation service (env prefix ``CONVERSATION_``)."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from parley.kit.crypto import EncryptionSettings
from parley.kit.settings import ServiceSettings


class ConversationSettings(ServiceSettings, EncryptionSettings):
    model_config = SettingsConfigDict(env_prefix="CONVERSATION_", extra="ignore", populate_by_name=True)

    service_name: str = "conversation"
    port: int = 8082
    database_schema: str = "conversation"
    snooze_check_seconds: float = Field(5.0, description="How often snoozed conversations whose time came reopen")
