"""Wiring of the sender service."""

from pathlib import Path

from parley.kit.eventstore import EventStore
from parley.kit.service import Service, ServiceDefinition
from parley.sender import service
from parley.sender.models import Channel, kit_tables, metadata
from parley.sender.settings import SenderSettings


def build(settings: SenderSettings | None = None) -> Service:
    settings = settings or SenderSettings()
    store = EventStore(kit_tables, source="/parley/sender", projector=service.project)
    return Service(ServiceDefinition(
        name="sender", settings=settings, metadata=metadata, store=store,
        migrations_dir=Path(__file__).parent / "migrations",
        projection_tables=[Channel.__table__],
    ))
