"""A trace started by an HTTP request continues through the event store, Kafka and the consumer."""

import logging
from collections.abc import Iterator
from typing import Any
from uuid import UUID

import httpx
import pytest
import structlog
from fastapi import APIRouter
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from sqlalchemy import select

from parley.contracts import Envelope
from parley.kit.consumer import Subscription
from parley.kit.service import CurrentService, Service, ServiceDefinition, Session
from parley.kit.telemetry import setup_tracing
from tests.integration.kit.kit_harness import (
    PUBLIC_TOPIC,
    SCRATCH_MIGRATIONS,
    Scratch,
    channel_update,
    create_topics,
    eventually,
    record_effect,
)

pytestmark = pytest.mark.integration

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
REQUEST_TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"

router = APIRouter()


@router.post("/channels/{phone_number_id}", status_code=201)
async def update_channel(phone_number_id: str, session: Session, service: CurrentService) -> dict[str, Any]:
    version = await service.store.version_of(session, "channel", phone_number_id)
    envelope = await service.store.record(session, channel_update(phone_number_id, "traced"),
                                          aggregate_type="channel", aggregate_id=phone_number_id,
                                          expected_version=version, tenant_id=None)
    return {"event_id": str(envelope.id)}


@pytest.fixture(scope="module")
def spans() -> Iterator[InMemorySpanExporter]:
    """Finished spans of this process, from the provider the kit installs (once per process)."""
    exporter = InMemorySpanExporter()
    setup_tracing("parley-kit-tests", None).add_span_processor(SimpleSpanProcessor(exporter))
    yield exporter
    exporter.shutdown()  # stop collecting: the processor stays on the process-wide provider


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """create_app() configures process-wide JSON logging; give the next tests their logging back."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.reset_defaults()


async def test_http_trace_continues_in_the_consumer(
    scratch: Scratch, spans: InMemorySpanExporter, restore_logging: None,
) -> None:
    topic = scratch.topic(PUBLIC_TOPIC)
    await create_topics(scratch.bootstrap, [topic, f"{topic}.dlq"])

    async def handle(session, envelope: Envelope) -> None:  # noqa: ANN001 - kit Handler signature
        await record_effect(session, scratch.tables, "kit-trace", envelope)

    service = Service(ServiceDefinition(
        name="kit-trace", settings=scratch.settings(), metadata=scratch.tables.metadata, store=scratch.store,
        migrations_dir=SCRATCH_MIGRATIONS, routers=[router],
        subscriptions=[Subscription(consumer="kit-trace", topics=(PUBLIC_TOPIC,), handler=handle)],
    ))
    app = service.create_app()
    await service.start()  # what the app's lifespan does; ASGITransport does not run it
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://kit") as client:
            response = await client.post("/channels/100000000000061",
                                         headers={"traceparent": REQUEST_TRACEPARENT})
        assert response.status_code == 201, response.text
        event_id = response.json()["event_id"]

        es = scratch.tables.kit.event_store
        async with scratch.db.unit_of_work() as session:
            query = select(es.c.envelope).where(es.c.event_id == UUID(event_id))
            stored = (await session.execute(query)).scalar_one()
        assert stored["traceparent"].split("-")[1] == TRACE_ID

        def consumer_spans() -> list[ReadableSpan]:
            return [s for s in spans.get_finished_spans()
                    if s.kind == SpanKind.CONSUMER and s.attributes.get("messaging.message.id") == event_id]

        async def consumed() -> bool:
            return bool(consumer_spans())

        await eventually(consumed, "the consumer span of the published event is finished", 90)
    finally:
        await service.stop()

    [span] = consumer_spans()
    assert format(span.context.trace_id, "032x") == TRACE_ID
    assert span.attributes["messaging.destination.name"] == topic
    assert span.parent is not None
    assert format(span.parent.span_id, "016x") == stored["traceparent"].split("-")[2]
    effects = scratch.tables.effects
    assert await scratch.count(effects, effects.c.event_id == UUID(event_id)) == 1
