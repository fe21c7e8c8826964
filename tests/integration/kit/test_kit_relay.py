"""Outbox relay: stored events reach Kafka once, in position order, as binary CloudEvents."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import datetime
from uuid import UUID

import pytest
from opentelemetry.sdk.trace import TracerProvider
from sqlalchemy import select

from parley.contracts import Envelope
from parley.kit.relay import OutboxRelay
from tests.integration.kit.kit_harness import (
    PUBLIC_TOPIC,
    Scratch,
    create_topics,
    headers_of,
    new_producer,
    read_to_end,
)

pytestmark = pytest.mark.integration

KEYS = ("100000000000011", "100000000000012", "100000000000013")


async def _record_events(scratch: Scratch, per_key: int) -> list[Envelope]:
    """Interleaved events over three keys, some inside a traced span, plus internal events."""
    traced = TracerProvider().get_tracer("kit-tests")
    stored = []
    for n in range(per_key):
        for key in KEYS:
            if n % 2:
                with traced.start_as_current_span("use case"):
                    stored.append(await scratch.append(key, f"{key}-{n}"))
            else:
                stored.append(await scratch.append(key, f"{key}-{n}"))
        await scratch.append(KEYS[0], f"internal-{n}", internal=True)
    return stored


async def _drain(*relays: OutboxRelay) -> None:
    """Run the relays side by side until the outbox is empty."""
    async def loop(relay: OutboxRelay) -> None:
        while await relay.publish_batch() or await relay.backlog():  # noqa: ASYNC110 - polling the outbox
            await asyncio.sleep(0)

    await asyncio.wait_for(asyncio.gather(*(loop(r) for r in relays)), timeout=120)


async def test_relay_publishes_every_event_once_in_order_with_cloudevent_headers(scratch: Scratch) -> None:
    topic = scratch.topic(PUBLIC_TOPIC)
    await create_topics(scratch.bootstrap, [topic], partitions=2)
    stored = await _record_events(scratch, per_key=7)
    producer = new_producer(scratch.bootstrap)
    await producer.start()
    try:
        # Two replicas with small batches: the advisory lock keeps them from publishing the same rows.
        relays = [OutboxRelay(scratch.db, scratch.tables.kit, producer, batch_size=4,
                              topic_prefix=scratch.topic_prefix) for _ in range(2)]
        await _drain(*relays)
        assert await relays[0].publish_batch() == 0
    finally:
        await producer.stop()

    records = await read_to_end(scratch.bootstrap, topic)
    by_id = {e.id: e for e in stored}
    ids = [headers_of(r)["ce_id"] for r in records]
    assert sorted(ids) == sorted(str(i) for i in by_id), "each public event once, internal ones never"

    es = scratch.tables.kit.event_store
    async with scratch.db.unit_of_work() as session:
        rows = (await session.execute(select(es.c.event_id, es.c.position, es.c.topic, es.c.recorded_at,
                                             es.c.published_at))).all()
    position = {str(r.event_id): r.position for r in rows}
    assert all(r.published_at is not None and r.published_at >= r.recorded_at for r in rows if r.topic)
    assert all(r.published_at is None for r in rows if r.topic is None)

    per_partition: dict[int, list[int]] = defaultdict(list)
    per_key: dict[str, list[str]] = defaultdict(list)
    for record in records:
        per_partition[record.partition].append(position[headers_of(record)["ce_id"]])
        per_key[record.key.decode()].append(headers_of(record)["ce_id"])
    for partition, positions in per_partition.items():
        assert positions == sorted(positions), f"partition {partition} out of position order"
    for key in KEYS:
        assert per_key[key] == [str(e.id) for e in stored if e.data["phone_number_id"] == key]

    for record in records:
        headers, envelope = headers_of(record), by_id[UUID(headers_of(record)["ce_id"])]
        assert headers["ce_specversion"] == "1.0"
        assert headers["ce_type"] == "channel.updated"
        assert headers["ce_source"] == "/parley/kit-tests"
        assert headers["ce_subject"] == f"channel/{record.key.decode()}"
        assert datetime.fromisoformat(headers["ce_time"]) == envelope.time
        assert headers["content-type"] == "application/json"
        assert headers.get("traceparent") == envelope.traceparent
        assert headers.get("ce_traceparent") == envelope.traceparent
    assert sum(1 for e in stored if e.traceparent) == 3 * 3, "the traced events carry their trace context"
