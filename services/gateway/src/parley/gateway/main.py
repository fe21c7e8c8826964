"""Wiring of the gateway service."""

from pathlib import Path

from parley.kit.eventstore import EventStore
from parley.kit.service import Service, ServiceDefinition
from parley.gateway.models import kit_tables, metadata
from parley.gateway.settings import GatewaySettings


def build(settings: GatewaySettings | None = None) -> Service:
    settings = settings or GatewaySettings()
    store = EventStore(kit_tables, source="/parley/gateway")
    return Service(ServiceDefinition(
        name="gateway", settings=settings, metadata=metadata, store=store,
        migrations_dir=Path(__file__).parent / "migrations",
    ))
