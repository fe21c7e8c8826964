"""Wiring of the conversation service."""

from pathlib import Path

from parley.conversation import crm, endpoints, service, subscribers
from parley.conversation.models import Contact, Conversation, Message, kit_tables, metadata
from parley.conversation.settings import ConversationSettings
from parley.kit.eventstore import EventStore
from parley.kit.service import Service, ServiceDefinition


def build(settings: ConversationSettings | None = None) -> Service:
    settings = settings or ConversationSettings()
    store = EventStore(kit_tables, source="/parley/conversation", projector=crm.projector(service.project))
    return Service(ServiceDefinition(
        name="conversation", settings=settings, metadata=metadata, store=store,
        migrations_dir=Path(__file__).parent / "migrations",
        routers=[endpoints.router, *crm.ROUTERS],
        subscriptions=[*subscribers.subscriptions(store), *crm.subscriptions(store)],
        projection_tables=[Message.__table__, Conversation.__table__, Contact.__table__, *crm.PROJECTION_TABLES],
    ))
