"""Wiring of the ingest service."""

from pathlib import Path

from parley.kit.eventstore import EventStore
from parley.kit.service import Service, ServiceDefinition
from parley.ingest.models import kit_tables, metadata
from parley.ingest.settings import IngestSettings


def build(settings: IngestSettings | None = None) -> Service:
    settings = settings or IngestSettings()
    store = EventStore(kit_tables, source="/parley/ingest")
    return Service(ServiceDefinition(
        name="ingest", settings=settings, metadata=metadata, store=store,
        migrations_dir=Path(__file__).parent / "migrations",
    ))
