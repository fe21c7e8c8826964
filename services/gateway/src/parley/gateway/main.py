"""Wiring of the gateway service."""

from __future__ import annotations

from pathlib import Path

from redis.asyncio import Redis
from sqlalchemy import Table

from parley.gateway import edge, endpoints, openapi, operator_endpoints, proxy, tenant_endpoints
from parley.gateway.models import ApiKey, Invitation, Tenant, User, kit_tables, metadata
from parley.gateway.projector import project
from parley.gateway.realtime import RealtimeRuntime
from parley.gateway.realtime import router as realtime_router
from parley.gateway.revocation_watch import RevocationWatch
from parley.gateway.runtime import GatewayRuntime
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
    runtime = GatewayRuntime(settings, issuer, upstreams, Redis.from_url(settings.redis_url), store=store)
    watch = RevocationWatch(Redis.from_url(settings.redis_url), realtime.hub, runtime.revocation_check)
    projections: tuple[Table, ...] = tuple(metadata.tables[model.__table__.fullname]
                                           for model in (Tenant, User, Invitation, ApiKey))

    async def close(_: Service) -> None:
        await upstreams.close(_)
        await runtime.close()

    service = Service(ServiceDefinition(
        name="gateway", settings=settings, metadata=metadata, store=store,
        migrations_dir=Path(__file__).parent / "migrations",
        # The catch-all forwarder goes last: every route of the gateway's own wins over it.
        routers=(endpoints.router, tenant_endpoints.router, operator_endpoints.router, openapi.router, realtime_router,
                 proxy.router),
        subscriptions=realtime.subscriptions(),
        background=(realtime.run_hub, watch.run),
        projection_tables=projections,
        readiness_checks=upstreams.readiness_checks(),
        on_shutdown=(close, realtime.close, watch.close),
        extra_state={"token_issuer": issuer, "upstreams": upstreams, "gateway": runtime, "realtime": realtime,
                     "openapi_documents": openapi.UpstreamDocuments(
                         upstreams, refresh_seconds=settings.openapi_refresh_seconds)},
        asgi_wrapper=edge.wrapper(settings),
    ))
    runtime.db = service.db
    return service
