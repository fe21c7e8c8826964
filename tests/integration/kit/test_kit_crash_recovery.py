"""Processes killed at the worst moment (a real exit, no cleanup) lose nothing when restarted."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select

from parley.contracts import Envelope
from parley.contracts.binding import to_record
from tests.integration.kit.kit_harness import (
    PUBLIC_TOPIC,
    Scratch,
    Worker,
    channel_update,
    committed_offset,
    create_topics,
    eventually,
    headers_of,
    produce,
    read_to_end,
)

pytestmark = pytest.mark.integration

StartWorker = Callable[..., Awaitable[Worker]]
KILLED = 137
KEYS = ("100000000000021", "100000000000022", "100000000000023")


async def _published(scratch: Scratch) -> int:
    es = scratch.tables.kit.event_store
    return await scratch.count(es, es.c.published_at.is_not(None))


async def test_relay_killed_mid_batch_then_restarted_loses_nothing(
    scratch: Scratch, workers: StartWorker,
) -> None:
    topic = scratch.topic(PUBLIC_TOPIC)
    await create_topics(scratch.bootstrap, [topic], partitions=2)
    stored = [await scratch.append(key, f"{key}-{n}") for n in range(8) for key in KEYS]

    # Batches of 4: two batches commit, the third dies on its third send, before marking anything.
    crashed = await workers("relay", faults="relay.mid_batch@11", KIT_BATCH_SIZE="4")
    assert await crashed.exit_code() == KILLED, crashed.tail()
    assert await _published(scratch) == 8

    restarted = await workers("relay", KIT_BATCH_SIZE="4")
    assert await restarted.exit_code() == 0, restarted.tail()
    assert await _published(scratch) == len(stored)

    records = await read_to_end(scratch.bootstrap, topic)
    first_seen: dict[str, list[str]] = defaultdict(list)
    for record in records:
        event_id = headers_of(record)["ce_id"]
        key = record.key.decode()
        if event_id not in first_seen[key]:
            first_seen[key].append(event_id)
    assert {i for ids in first_seen.values() for i in ids} == {str(e.id) for e in stored}, "an event was lost"
    for key in KEYS:
        assert first_seen[key] == [str(e.id) for e in stored if e.data["phone_number_id"] == key], key


async def test_consumer_killed_after_commit_gets_the_event_again_and_applies_it_once(
    scratch: Scratch, workers: StartWorker, tmp_path: Path,
) -> None:
    topic, group = scratch.topic("orders"), scratch.topic("kit-worker")
    await create_topics(scratch.bootstrap, [topic, f"{topic}.dlq"])
    envelope = Envelope.wrap(channel_update("100000000000031", "apply-once"), source="/parley/kit-tests",
                             tenant_id=None)
    [offset] = await produce(scratch.bootstrap, topic, [to_record(envelope)])
    deliveries = tmp_path / "deliveries.txt"
    env = {"KIT_CONSUMER": "kit-worker", "KIT_TOPIC": "orders", "KIT_DELIVERIES": str(deliveries)}

    crashed = await workers("consumer", faults="consumer.after_commit@1", **env)
    assert await crashed.exit_code() == KILLED, crashed.tail()
    assert await _effects(scratch, envelope) == 1
    committed = await committed_offset(scratch.bootstrap, group, topic)
    assert committed is None or committed <= offset, "the offset must not be committed before the crash"

    restarted = await workers("consumer", **env)

    async def offset_committed_past_the_event() -> bool:
        assert restarted.process is not None and restarted.process.returncode is None, restarted.tail()
        return await committed_offset(scratch.bootstrap, group, topic) == offset + 1

    # Only a consumer that received the record again can commit past it: that is the redelivery.
    await eventually(offset_committed_past_the_event, "the restarted consumer commits the redelivered record")
    await restarted.stop()
    assert await _effects(scratch, envelope) == 1, "the redelivered event must not be applied twice"
    assert deliveries.read_text().split() == [str(envelope.id)], "the inbox kept the handler from rerunning"
    inbox = scratch.tables.kit.inbox
    assert await scratch.count(inbox, inbox.c.event_id == envelope.id, inbox.c.consumer == group) == 1


async def _effects(scratch: Scratch, envelope: Envelope) -> int:
    effects = scratch.tables.effects
    async with scratch.db.unit_of_work() as session:
        query = select(func.count()).where(effects.c.event_id == envelope.id)
        return int((await session.execute(query)).scalar_one())


async def test_consumer_killed_after_committing_a_batch_gets_it_again_and_applies_it_once(
    scratch: Scratch, workers: StartWorker, tmp_path: Path,
) -> None:
    topic, group = scratch.topic("batched"), scratch.topic("kit-batch-worker")
    await create_topics(scratch.bootstrap, [topic, f"{topic}.dlq"])
    events = [Envelope.wrap(channel_update(key, f"batch-{n}"), source="/parley/kit-tests", tenant_id=None)
              for n, key in enumerate(KEYS * 2)]
    offsets = await produce(scratch.bootstrap, topic, [to_record(e) for e in events])
    deliveries = tmp_path / "deliveries.txt"
    env = {"KIT_CONSUMER": "kit-batch-worker", "KIT_TOPIC": "batched", "KIT_DELIVERIES": str(deliveries)}

    # All six were queued before the group joined: the first fetch is one batch, killed after its commit.
    crashed = await workers("consumer", faults="consumer.after_commit@1", **env)
    assert await crashed.exit_code() == KILLED, crashed.tail()
    assert [await _effects(scratch, e) for e in events] == [1] * len(events), "the batch committed as a whole"
    committed = await committed_offset(scratch.bootstrap, group, topic)
    assert committed is None or committed <= offsets[0], "the offsets must not be committed before the crash"

    restarted = await workers("consumer", **env)

    async def offsets_committed_past_the_batch() -> bool:
        assert restarted.process is not None and restarted.process.returncode is None, restarted.tail()
        return await committed_offset(scratch.bootstrap, group, topic) == offsets[-1] + 1

    await eventually(offsets_committed_past_the_batch, "the restarted consumer commits the redelivered batch")
    await restarted.stop()
    assert [await _effects(scratch, e) for e in events] == [1] * len(events), "no event applied twice"
    assert sorted(deliveries.read_text().split()) == sorted(str(e.id) for e in events), \
        "the handler ran once per event: the redelivered batch was recognised in the inbox"
