"""Build a Parley service: HTTP app, health/readiness/metrics, consumers, outbox relay, lifecycle."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Annotated

from aiokafka import AIOKafkaProducer
from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from redis.asyncio import Redis
from sqlalchemy import MetaData, Table
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from parley.kit import metrics
from parley.kit.auth import CurrentPrincipal, TokenVerifier
from parley.kit.consumer import ConsumerRunner, Subscription
from parley.kit.consumer_loop import ConsumerLoop
from parley.kit.db import Database, create_engine
from parley.kit.errors import install_error_handlers
from parley.kit.eventstore import EventStore
from parley.kit.kafka import create_producer
from parley.kit.migrations import upgrade_async
from parley.kit.relay import OutboxRelay
from parley.kit.revocation import RevocationCheck
from parley.kit.settings import ServiceSettings
from parley.kit.telemetry import get_logger, setup_logging, setup_tracing

log = get_logger(__name__)

ReadinessCheck = Callable[[], Awaitable[None]]


@dataclass
class ServiceDefinition:
    """What a service declares; the kit does the rest."""

    name: str
    settings: ServiceSettings
    metadata: MetaData
    store: EventStore
    migrations_dir: Path
    routers: Sequence[APIRouter] = ()
    subscriptions: Sequence[Subscription] = ()
    projection_tables: Sequence[Table] = ()
    readiness_checks: Mapping[str, ReadinessCheck] = field(default_factory=dict)
    background: Sequence[Callable[[Service], Awaitable[None]]] = ()
    on_startup: Sequence[Callable[[Service], Awaitable[None]]] = ()
    on_shutdown: Sequence[Callable[[Service], Awaitable[None]]] = ()
    extra_state: dict[str, object] = field(default_factory=dict)
    database_settings: dict[str, str] = field(default_factory=dict)
    #: Wraps the HTTP app, e.g. with a fast path for a hot route; it must pass everything else through.
    asgi_wrapper: Callable[[ASGIApp], ASGIApp] | None = None


class Service:
    """The running parts of one service, shared by its HTTP app, its consumers and its CLI."""

    def __init__(self, definition: ServiceDefinition) -> None:
        self.definition = definition
        self.settings = definition.settings
        self.name = definition.name
        self.db = Database(create_engine(self.settings.database_url.get_secret_value(),
                                         definition.metadata.schema or "public",
                                         pool_size=self.settings.database_pool_size, application_name=self.name,
                                         server_settings=definition.database_settings))
        self.store = definition.store
        self.producer: AIOKafkaProducer | None = None
        self.consumers: list[ConsumerLoop] = []
        self.kafka_ready = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def schema(self) -> str:
        return str(self.definition.metadata.schema or "public")

    async def migrate(self) -> None:
        await upgrade_async(self.definition.migrations_dir, self.settings.database_url.get_secret_value(), self.schema)

    async def rebuild(self) -> int:
        """Replay the event store into emptied projections (``python -m parley.<svc> rebuild``)."""
        async with self.db.unit_of_work(system=True) as session:
            return await self.store.rebuild(session, self.definition.projection_tables)

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        if self.settings.migrate_on_start:
            await self._retry("database migrations", self.migrate)
        for hook in self.definition.on_startup:
            await hook(self)
        self._tasks.append(asyncio.create_task(self._run_kafka(), name=f"{self.name}-kafka"))
        for job in self.definition.background:
            self._tasks.append(asyncio.create_task(job(self), name=f"{self.name}-{job.__name__}"))

    async def stop(self) -> None:
        await asyncio.gather(*(consumer.stop() for consumer in self.consumers), return_exceptions=True)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with suppress(asyncio.CancelledError, Exception):
                await task
        # A consumer whose start was retrying may have joined meanwhile: stopping is idempotent.
        await asyncio.gather(*(consumer.stop() for consumer in self.consumers), return_exceptions=True)
        if self.producer is not None:
            with suppress(Exception):
                await asyncio.wait_for(self.producer.stop(), timeout=5)
        for hook in self.definition.on_shutdown:
            with suppress(Exception):
                await hook(self)
        await self.db.dispose()

    async def _run_kafka(self) -> None:
        """Connect the producer (retrying until the broker is up), then relay forever.

        Consumers join their groups in the background: a join takes seconds on some brokers and
        readiness means "can reach the database and the broker", not "has partitions assigned".
        Events published meanwhile wait in Kafka; a new group starts from the earliest offset.
        """
        self.producer = create_producer(self.settings, client_id=self.name)
        await self._retry("kafka producer", self.producer.start)
        self.kafka_ready.set()
        if self.definition.subscriptions and self.settings.consumers_enabled:
            self._tasks.append(asyncio.create_task(self._run_consumers(self.producer), name=f"{self.name}-consumers"))
        if not self.settings.relay_enabled:
            return
        relay = OutboxRelay(self.db, self.store.tables, self.producer, batch_size=self.settings.relay_batch_size,
                            idle_seconds=self.settings.relay_idle_seconds,
                            topic_prefix=self.settings.kafka_topic_prefix)
        await relay.run()

    async def _run_consumers(self, producer: AIOKafkaProducer) -> None:
        """One group member per subscription, each fetching and committing in batches of its own."""
        prefix = self.settings.kafka_topic_prefix
        loops = []
        for subscription in self.definition.subscriptions:
            prefixed = replace(subscription, consumer=prefix + subscription.consumer,
                               topics=tuple(prefix + t for t in subscription.topics))
            runner = ConsumerRunner(self.db, self.store.tables, producer, prefixed,
                                    max_attempts=self.settings.consumer_max_attempts)
            loops.append(ConsumerLoop(runner, self.settings.kafka_bootstrap_servers,
                                      client_id=f"{self.name}-consumer", max_records=self.settings.consumer_batch_size,
                                      concurrency=self.settings.consumer_concurrency,
                                      fetch_wait_ms=self.settings.fetch_wait_ms(subscription.topics)))
        self.consumers.extend(loops)
        await asyncio.gather(*(self._retry(f"kafka consumer {loop.group}", loop.start) for loop in loops))

    async def _retry(self, what: str, action: Callable[[], Awaitable[object]]) -> None:
        delay = 0.2
        while True:
            try:
                await action()
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - infrastructure may come up after us
                log.warning(f"{what} not available yet; retrying", error=str(exc), retry_in=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    # -- readiness ---------------------------------------------------------------------------

    async def readiness(self) -> dict[str, str]:
        checks: dict[str, str] = {}

        async def run(name: str, check: Callable[[], Awaitable[object]]) -> None:
            try:
                await asyncio.wait_for(check(), timeout=2.0)
                checks[name] = "ok"
            except Exception as exc:  # noqa: BLE001 - reported, not raised
                checks[name] = f"unavailable: {type(exc).__name__}: {exc}"[:300]

        await asyncio.gather(run("database", self.db.ping), run("kafka", self._kafka_check))
        await asyncio.gather(*(run(name, check) for name, check in self.definition.readiness_checks.items()))
        return checks

    async def _kafka_check(self) -> None:
        if not self.kafka_ready.is_set() or self.producer is None:
            raise RuntimeError("not connected")
        await self.producer.client.fetch_all_metadata()

    # -- HTTP ------------------------------------------------------------------------------

    def asgi_app(self) -> ASGIApp:
        """What the server runs: the FastAPI app, behind the service's wrapper if it has one."""
        app = self.create_app()
        return self.definition.asgi_wrapper(app) if self.definition.asgi_wrapper else app

    def create_app(self) -> FastAPI:
        setup_logging(self.name, self.settings.log_level)
        setup_tracing(f"parley-{self.name}", self.settings.otel_exporter_otlp_endpoint)

        @asynccontextmanager
        async def lifespan(app: FastAPI) -> AsyncIterator[None]:
            await self.start()
            try:
                yield
            finally:
                await self.stop()
                if revocations is not None:
                    await revocations.aclose()

        app = FastAPI(title=f"Parley {self.name}", lifespan=lifespan)
        app.state.service = self
        app.state.settings = self.settings
        for key, value in self.definition.extra_state.items():
            setattr(app.state, key, value)
        revocations: Redis | None = None
        if self.settings.jwks_url:
            revocations = Redis.from_url(self.settings.redis_url)
            app.state.token_verifier = TokenVerifier(self.settings.jwks_url, RevocationCheck(
                revocations, cache_seconds=self.settings.revocation_cache_seconds))
        install_error_handlers(app)
        app.include_router(_ops_router(self))
        for router in self.definition.routers:
            app.include_router(router)
        app.add_middleware(RequestMetrics)
        # One server span per request; the per-ASGI-message receive/send spans cost ~15% CPU and tell nothing.
        FastAPIInstrumentor.instrument_app(app, excluded_urls="healthz,readyz,metrics",
                                           exclude_spans=["receive", "send"])
        return app


class RequestMetrics:
    """Counts and times requests by route template (plain ASGI: no per-request task like BaseHTTPMiddleware)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), 500

        async def send_and_record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            metrics.HTTP_REQUESTS.labels(scope["method"], route, str(status)).inc()
            metrics.HTTP_LATENCY.labels(scope["method"], route).observe(time.perf_counter() - started)


def _ops_router(service: Service) -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/healthz", summary="Liveness: the process is up")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": service.name}

    @router.get("/readyz", summary="Readiness: database and broker reachable")
    async def readyz() -> JSONResponse:
        checks = await service.readiness()
        ready = all(v == "ok" for v in checks.values())
        return JSONResponse({"status": "ready" if ready else "unavailable", "service": service.name,
                             "checks": checks}, status_code=200 if ready else 503)

    @router.get("/metrics", summary="Prometheus metrics")
    async def prometheus() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router


async def get_service(request: Request) -> Service:
    """Async on purpose: FastAPI runs plain ``def`` dependencies in a thread pool, a cost per request."""
    return request.app.state.service


async def unit_of_work(request: Request) -> AsyncIterator[AsyncSession]:
    """The request's transaction: the edge owns it, services only flush."""
    async with request.app.state.service.db.unit_of_work() as session:
        yield session


async def tenant_unit_of_work(request: Request, principal: CurrentPrincipal) -> AsyncIterator[AsyncSession]:
    """The request's transaction, scoped to the authenticated principal's tenant (row-level security)."""
    async with request.app.state.service.db.unit_of_work(tenant_id=principal.tenant_id) as session:
        yield session


async def system_unit_of_work(request: Request) -> AsyncIterator[AsyncSession]:
    """The request's transaction in system scope: every tenant's rows. Only behind an operator check."""
    async with request.app.state.service.db.unit_of_work(system=True) as session:
        yield session


# scope="function": commit before the response is sent, so a failed commit is the client's error, not a lost 200.
Session = Annotated[AsyncSession, Depends(unit_of_work, scope="function")]
TenantSession = Annotated[AsyncSession, Depends(tenant_unit_of_work, scope="function")]
SystemSession = Annotated[AsyncSession, Depends(system_unit_of_work, scope="function")]
CurrentService = Annotated[Service, Depends(get_service)]
