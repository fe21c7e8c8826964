"""Wiring of the flow-engine service."""

from pathlib import Path

from parley.flow_engine.models import kit_tables, metadata
from parley.flow_engine.settings import FlowEngineSettings
from parley.kit.eventstore import EventStore
from parley.kit.service import Service, ServiceDefinition


def build(settings: FlowEngineSettings | None = None) -> Service:
    settings = settings or FlowEngineSettings()
    store = EventStore(kit_tables, source="/parley/flow-engine")
    return Service(ServiceDefinition(
        name="flow-engine", settings=settings, metadata=metadata, store=store,
        migrations_dir=Path(__file__).parent / "migrations",
    ))
