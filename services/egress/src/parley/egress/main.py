"""Wiring of the egress service."""

from pathlib import Path

from parley.egress.models import kit_tables, metadata
from parley.egress.settings import EgressSettings
from parley.kit.eventstore import EventStore
from parley.kit.service import Service, ServiceDefinition


def build(settings: EgressSettings | None = None) -> Service:
    settings = settings or EgressSettings()
    store = EventStore(kit_tables, source="/parley/egress")
    return Service(ServiceDefinition(
        name="egress", settings=settings, metadata=metadata, store=store,
        migrations_dir=Path(__file__).parent / "migrations",
    ))
