"""Wiring of the campaign service."""

from pathlib import Path

from parley.campaign.models import kit_tables, metadata
from parley.campaign.settings import CampaignSettings
from parley.kit.eventstore import EventStore
from parley.kit.service import Service, ServiceDefinition


def build(settings: CampaignSettings | None = None) -> Service:
    settings = settings or CampaignSettings()
    store = EventStore(kit_tables, source="/parley/campaign")
    return Service(ServiceDefinition(
        name="campaign", settings=settings, metadata=metadata, store=store,
        migrations_dir=Path(__file__).parent / "migrations",
    ))
