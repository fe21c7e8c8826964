"""Batched consumers: records queued before the group joins arrive as one batch per partition.

Each test publishes its records first, then starts a fresh consumer group, so the first fetch holds
them all; the batch-size histogram shows that they were indeed handled together.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from uuid import UUID

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from parley.contracts import Envelope
from parley.contracts.binding import to_record
from parley.kit.consumer import BatchHandler, ConsumerRunner, Handler, PoisonMessage, Subscription
from parley.kit.consumer_loop import ConsumerLoop
from parley.kit.kafka import create_producer
from tests.integration.kit.kit_harness import (
    Scratch,
    channel_update,
    committed_offset,
    create_topics,
    eventually,
    headers_of,
    label_of,
    produce,
    read_until,
    record_effect,
)

pytestmark = pytest.mark.integration

ACME, GLOBEX = uuid.UUID("0190a000-0000-7000-8000-0000000000a1"), uuid.UUID("0190a000-0000-7000-8000-0000000000b2")


def _event(label: str, tenant_id: UUID | None = None, phone_number_id: str = "100000000000051") -> Envelope:
    return Envelope.wrap(channel_update(phone_number_id, label), source="/parley/kit-tests", tenant_id=tenant_id)


@asynccontextmanager
async def _consuming(scratch: Scratch, group: str, topic: str, *, handler: Handler | None = None,
                     batch_handler: BatchHandler | None = None) -> AsyncIterator[None]:
    producer = create_producer(scratch.settings(), client_id="kit-batches-dlq")
    await producer.start()
    runner = ConsumerRunner(scratch.db, scratch.tables.kit, producer,
                            Subscription(group, (topic,), handler=handler, batch_handler=batch_handler),
                            max_attempts=3, base_backoff=0.02, max_backoff=0.1)
    loop = ConsumerLoop(runner, scratch.bootstrap, client_id="kit-batches")
    await loop.start()
    try:
        yield
    finally:
        await loop.stop()
        await producer.stop()


async def _effect_labels(scratch: Scratch, group: str) -> list[str]:
    """Labels of the effects in the order they were written."""
    effects = scratch.tables.effects
    async with scratch.db.unit_of_work() as session:
        query = select(effects.c.label).where(effects.c.consumer == group).order_by(effects.c.id)
        return list((await session.execute(query)).scalars())


def _largest_batch_seen(group: str, records: int) -> bool:
    """At least one batch held several records (fewer batches than records)."""
    count = REGISTRY.get_sample_value("parley_consumer_batch_size_count", {"consumer": group}) or 0
    total = REGISTRY.get_sample_value("parley_consumer_batch_size_sum", {"consumer": group}) or 0
    return total == records and 0 < count < records


async def _topics(scratch: Scratch, name: str) -> tuple[str, str]:
    topic = scratch.topic(name)
    await create_topics(scratch.bootstrap, [topic, f"{topic}.dlq"])
    return topic, scratch.topic(f"{name}-group")


def _recording(scratch: Scratch, group: str, attempts: Counter[str]) -> Callable[..., Awaitable[None]]:
    async def handle(session: AsyncSession, envelope: Envelope) -> None:
        label = label_of(envelope) or ""
        attempts[label] += 1
        if label.startswith("poison"):
            raise PoisonMessage(f"{label} cannot be handled")
        await record_effect(session, scratch.tables, group, envelope)

    return handle


async def test_poison_in_the_middle_of_a_batch_is_dead_lettered_and_the_others_applied_once(
    scratch: Scratch,
) -> None:
    topic, group = await _topics(scratch, "batch-poison")
    before, poison, after = [_event(f"before-{n}") for n in range(3)], _event("poison"), _event("after")
    key, _, headers = to_record(before[0])
    records = [to_record(e) for e in before] + [to_record(poison), (key, b"{not json", headers),
                                                to_record(before[1]), to_record(after)]
    offsets = await produce(scratch.bootstrap, topic, records, partition=0)
    attempts: Counter[str] = Counter()

    async with _consuming(scratch, group, topic, handler=_recording(scratch, group, attempts)):
        async def all_applied() -> bool:
            return len(await _effect_labels(scratch, group)) >= 4

        await eventually(all_applied, "the events around the poison are applied", 90)
        dead = await read_until(scratch.bootstrap, f"{topic}.dlq", lambda found: len(found) >= 2)

        async def committed() -> bool:
            return await committed_offset(scratch.bootstrap, group, topic) == offsets[-1] + 1

        await eventually(committed, "the whole batch is committed", 90)

    assert await _effect_labels(scratch, group) == ["before-0", "before-1", "before-2", "after"], \
        "each good event applied exactly once, in offset order (the repeated before-1 is a duplicate)"
    reasons = {headers_of(r).get("ce_id"): headers_of(r)["x-dlq-reason"] for r in dead}
    assert reasons[str(poison.id)] == "poison"
    assert list(reasons.values()).count("malformed") == 1
    assert attempts["poison"] == 1, "a poison event is parked at once, not retried"
    assert _largest_batch_seen(group, len(records))
    inbox = scratch.tables.kit.inbox
    assert await scratch.count(inbox, inbox.c.consumer == group) == 4
    assert await scratch.count(inbox, inbox.c.consumer == group, inbox.c.event_id == poison.id) == 0


async def test_duplicates_inside_a_batch_and_already_processed_events_are_applied_once(scratch: Scratch) -> None:
    topic, group = await _topics(scratch, "batch-duplicates")
    seen_before, first, second = _event("seen-before"), _event("first"), _event("second")
    inbox = scratch.tables.kit.inbox
    async with scratch.db.unit_of_work() as session:  # processed by an earlier batch, then redelivered
        await session.execute(inbox.insert().values(consumer=group, event_id=seen_before.id))
    records = [to_record(e) for e in (first, seen_before, first, second, first, second)]
    offsets = await produce(scratch.bootstrap, topic, records, partition=0)
    attempts: Counter[str] = Counter()

    async with _consuming(scratch, group, topic, handler=_recording(scratch, group, attempts)):
        async def committed() -> bool:
            return await committed_offset(scratch.bootstrap, group, topic) == offsets[-1] + 1

        await eventually(committed, "the batch is committed", 90)

    assert await _effect_labels(scratch, group) == ["first", "second"]
    assert attempts == Counter({"first": 1, "second": 1}), "the handler never ran for a duplicate"
    assert _largest_batch_seen(group, len(records))
    duplicates = REGISTRY.get_sample_value("parley_consumer_events_total",
                                           {"consumer": group, "topic": topic, "outcome": "duplicate"})
    assert duplicates == 4


async def test_each_event_of_a_mixed_tenant_batch_runs_under_its_own_tenant_scope(scratch: Scratch) -> None:
    """The handlers insert into an RLS table and count it WITHOUT a filter: each sees only its tenant."""
    topic, group = await _topics(scratch, "batch-tenants")
    events = [_event("acme-1", ACME), _event("globex-1", GLOBEX), _event("acme-2", ACME),
              _event("platform"), _event("globex-2", GLOBEX)]
    offsets = await produce(scratch.bootstrap, topic, [to_record(e) for e in events], partition=0)
    notes, effects = scratch.tables.notes, scratch.tables.effects

    async def handle(session: AsyncSession, envelope: Envelope) -> None:
        if envelope.tenantid is not None:
            await session.execute(notes.insert().values(tenant_id=envelope.tenantid, body=label_of(envelope)))
        visible = (await session.execute(select(func.count()).select_from(notes))).scalar_one()
        await session.execute(effects.insert().values(consumer=group, event_id=envelope.id,
                                                      label=f"{label_of(envelope)} sees {visible}"))

    async with _consuming(scratch, group, topic, handler=handle):
        async def committed() -> bool:
            return await committed_offset(scratch.bootstrap, group, topic) == offsets[-1] + 1

        await eventually(committed, "the batch is committed", 90)

    assert sorted(await _effect_labels(scratch, group)) == [
        "acme-1 sees 1", "acme-2 sees 2", "globex-1 sees 1", "globex-2 sees 2", "platform sees 4"]
    assert _largest_batch_seen(group, len(events))


async def test_batch_handler_gets_each_tenants_new_events_in_offset_order(scratch: Scratch) -> None:
    topic, group = await _topics(scratch, "batch-bulk")
    events = [_event(f"acme-{n}", ACME) if n % 2 else _event(f"globex-{n}", GLOBEX) for n in range(6)]
    records = [to_record(e) for e in events] + [to_record(events[0])]
    offsets = await produce(scratch.bootstrap, topic, records, partition=0)
    calls: list[list[str]] = []
    notes = scratch.tables.notes

    async def bulk(session: AsyncSession, batch: list[Envelope]) -> None:
        calls.append([label_of(e) or "" for e in batch])
        await session.execute(notes.insert(), [{"tenant_id": e.tenantid, "body": label_of(e)} for e in batch])

    async with _consuming(scratch, group, topic, batch_handler=bulk):
        async def committed() -> bool:
            return await committed_offset(scratch.bootstrap, group, topic) == offsets[-1] + 1

        await eventually(committed, "the batch is committed", 90)

    assert calls == [["globex-0", "globex-2", "globex-4"], ["acme-1", "acme-3", "acme-5"]]
    async with scratch.db.unit_of_work(system=True) as session:
        stored = (await session.execute(select(func.count()).select_from(notes))).scalar_one()
    assert stored == 6, "the redelivered event was not applied again"
