"""Wiring of the gateway service."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Table

from parley.gateway import endpoints, proxy
from parley.gateway.models import Tenant, User, kit_tables, metadata
from parley.gateway.projector import project
from parley.gateway.realtime import RealtimeRuntime
from parley.gateway.realtime import router as realtime_router
from parley.gateway.settings import GatewaySettings
from parley.gateway.tokens import TokenIssuer, load_signing_key
from parley.gateway.upstreams import Upstreams
from parley.kit.eventstore import EventStore
from parley.kit.service import Service, ServiceDefinition


def build(settings: GatewaySettings | None = None) -> Service:
    settings = settings or GatewaySettings()
    issuer = TokenIssuer(load_signing_key(settings), settings.access_token_ttl_seconds)
    upstreams = Upstreams(settings.upstreams(), timeout_seconds=settings.upstream_timeout_seconds)
    realtime = RealtimeRuntime.from_settings(settings)
    store = EventStore(kit_tables, source="/parley/gateway", projector=project)
    projections: tuple[Table, ...] = (metadata.tables[Tenant.__table__.fullname],
                                      metadata.tables[User.__table__.fullname])
    return Service(ServiceDefinition(
        name="gateway", settings=settings, metadata=metadata, store=store,
        migrations_dir=Path(__file__).parent / "migrations",
        routers=(endpoints.router, proxy.router, realtime_router),
        subscriptions=realtime.subscriptions(),
        background=(realtime.run_hub,),
        projection_tables=projections,
        readiness_checks=upstreams.readiness_checks(),
        on_shutdown=(upstreams.close, realtime.close),
        extra_state={"token_issuer": issuer, "upstreams": upstreams, "realtime": realtime},
    ))
