"""Wiring of the ingest service."""

import gc
from pathlib import Path

from prometheus_client import Gauge

from parley.ingest import admin, endpoints, repository, service, subscribers
from parley.ingest.fastpath import WebhookFastPath
from parley.ingest.hooks import endpoints as hooks_endpoints
from parley.ingest.hooks import projection as hooks_projection
from parley.ingest.hooks import service as hooks_service
from parley.ingest.hooks.models import InboundHook
from parley.ingest.intake import WebhookIntake
from parley.ingest.models import ChannelRoute, kit_tables, metadata
from parley.ingest.settings import IngestSettings
from parley.kit.eventstore import EventStore
from parley.kit.loops import run_forever
from parley.kit.service import Service, ServiceDefinition

WEBHOOKS_BY_STATUS = Gauge("parley_ingest_webhooks", "Stored webhooks needing attention, by status", ["status"])
WATCHED = ("quarantined", "parked", "received", "replaying")


async def _refresh_gauges(service_: Service) -> None:
    """Quarantine and parked sizes for alerting, from the database (shared by every replica)."""

    async def refresh() -> int:
        async with service_.db.unit_of_work() as session:
            counts = await repository.counts_by_status(session, WATCHED)
        for status in WATCHED:
            WEBHOOKS_BY_STATUS.labels(status).set(counts.get(status, 0))
        return 0

    await run_forever("webhook gauges", refresh, service_.settings.gauges_interval_seconds)  # type: ignore[attr-defined]


async def _freeze_startup_objects(_: Service) -> None:
    """Everything imported and built so far lives as long as the process: keep the cyclic GC from rescanning
    it on every collection (a visible share of CPU per webhook at thousands per second)."""
    gc.collect()
    gc.freeze()


def build(settings: IngestSettings | None = None) -> Service:
    settings = settings or IngestSettings()
    store = EventStore(kit_tables, source="/parley/ingest", projector=hooks_projection.with_hooks(service.project))
    definition = ServiceDefinition(
        name="ingest", settings=settings, metadata=metadata, store=store,
        migrations_dir=Path(__file__).parent / "migrations",
        routers=[endpoints.router, admin.router, hooks_endpoints.router],
        subscriptions=subscribers.subscriptions(store, generic=hooks_service.process_generic),
        projection_tables=[ChannelRoute.__table__, InboundHook.__table__],
        # The 200 promises durability: never let a server-wide setting turn that into "probably".
        database_settings={"synchronous_commit": "on"},
    )
    built = Service(definition)
    intake = WebhookIntake(built.db.engine, built.schema, source=store.source, writers=settings.intake_writers,
                           max_batch=settings.intake_max_batch)

    async def run_intake(_: Service) -> None:
        await intake.run()

    definition.background = [run_intake, _refresh_gauges]
    definition.on_startup = [_freeze_startup_objects]
    definition.extra_state["intake"] = intake
    definition.asgi_wrapper = lambda app: WebhookFastPath(app, settings, intake)
    definition.extra_state["tenant_cipher"] = hooks_endpoints.build_cipher(settings)
    return built
