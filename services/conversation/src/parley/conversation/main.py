"""Wiring of the conversation service."""

from pathlib import Path

from parley.kit.eventstore import EventStore
from parley.kit.service import Service, ServiceDefinition
from parley.conversation.models import kit_tables, metadata
from parley.conversation.settings import ConversationSettings


def build(settings: ConversationSettings | None = None) -> Service:
    settings = settings or ConversationSettings()
    store = EventStore(kit_tables, source="/parley/conversation")
    return Service(ServiceDefinition(
        name="conversation", settings=settings, metadata=metadata, store=store,
        migrations_dir=Path(__file__).parent / "migrations",
    ))
