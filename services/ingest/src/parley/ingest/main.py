"""Wiring of the ingest service."""

from pathlib import Path

from parley.ingest import endpoints, service, subscribers
from parley.ingest.models import ChannelRoute, kit_tables, metadata
from parley.ingest.settings import IngestSettings
from parley.kit.eventstore import EventStore
from parley.kit.service import Service, ServiceDefinition


def build(settings: IngestSettings | None = None) -> Service:
    settings = settings or IngestSettings()
    store = EventStore(kit_tables, source="/parley/ingest", projector=service.project)
    return Service(ServiceDefinition(
        name="ingest", settings=settings, metadata=metadata, store=store,
        migrations_dir=Path(__file__).parent / "migrations",
        routers=[endpoints.router],
        subscriptions=subscribers.subscriptions(store),
        projection_tables=[ChannelRoute.__table__],
    ))
