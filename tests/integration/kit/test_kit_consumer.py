"""Consumers: poison goes to the DLQ without blocking the partition; failures are retried, then parked.

One consumer group (joined once for the module) reads one single-partition topic per scenario.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from aiokafka import AIOKafkaProducer, ConsumerRecord
from prometheus_client import REGISTRY
from sqlalchemy.ext.asyncio import AsyncSession

from parley.contracts import Envelope
from parley.contracts.binding import to_record
from parley.kit.consumer import ConsumerRunner, Subscription
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
    read_to_end,
    read_until,
    record_effect,
)

pytestmark = pytest.mark.integration

SCENARIOS = ("poison", "exhausted", "transient", "outage")
MAX_ATTEMPTS = 3


@dataclass
class RunningConsumer:
    scratch: Scratch
    group: str
    attempts: Counter[str]  # handler invocations per label, kept outside any transaction

    def topic(self, scenario: str) -> str:
        return self.scratch.topic(scenario)

    async def effects_for(self, envelope: Envelope) -> int:
        effects = self.scratch.tables.effects
        return await self.scratch.count(effects, effects.c.event_id == envelope.id)

    async def inbox_has(self, envelope: Envelope) -> bool:
        inbox = self.scratch.tables.kit.inbox
        rows = await self.scratch.count(inbox, inbox.c.event_id == envelope.id,
                                        inbox.c.consumer == self.group)
        return rows == 1

    async def wait_until_committed(self, scenario: str, offset: int) -> None:
        async def committed() -> bool:
            committed = await committed_offset(self.scratch.bootstrap, self.group, self.topic(scenario))
            return (committed or 0) >= offset

        await eventually(committed, f"{self.group} commits {self.topic(scenario)} up to offset {offset}", 90)


@pytest.fixture(scope="module")
async def consumer(module_scratch: Scratch) -> AsyncIterator[RunningConsumer]:
    scratch = module_scratch
    topics = [scratch.topic(s) for s in SCENARIOS]
    await create_topics(scratch.bootstrap, topics + [f"{t}.dlq" for t in topics])
    attempts: Counter[str] = Counter()
    group = scratch.topic("kit-consumer")

    async def handle(session: AsyncSession, envelope: Envelope) -> None:
        envelope.payload()  # what every real handler does first: unknown types raise here
        label = label_of(envelope) or ""
        attempts[label] += 1
        if label.startswith("fail-always"):
            raise RuntimeError(f"handler bug on {label}")
        if label.startswith("fail-twice") and attempts[label] <= 2:
            raise RuntimeError("transient hiccup")
        if label.startswith("outage") and attempts[label] <= MAX_ATTEMPTS + 2:
            raise ConnectionRefusedError("the database is restarting")
        await record_effect(session, scratch.tables, group, envelope)

    producer = create_producer(scratch.settings(), client_id="kit-consumer-dlq")
    await producer.start()
    runner = ConsumerRunner(scratch.db, scratch.tables.kit, producer,
                            Subscription(consumer=group, topics=tuple(topics), handler=handle),
                            max_attempts=MAX_ATTEMPTS, base_backoff=0.02, max_backoff=0.1)
    loop = ConsumerLoop(runner, scratch.bootstrap, client_id="kit-consumer")
    await loop.start()
    try:
        yield RunningConsumer(scratch, group, attempts)
    finally:
        await loop.stop()
        await producer.stop()


def _event(label: str) -> Envelope:
    return Envelope.wrap(channel_update("100000000000041", label), source="/parley/kit-tests", tenant_id=None)


def _with_type(envelope: Envelope, event_type: str) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    key, value, headers = to_record(envelope)
    return key, value, [(k, event_type.encode() if k == "ce_type" else v) for k, v in headers]


def _dlq_of(records: list[ConsumerRecord], envelope: Envelope) -> list[ConsumerRecord]:
    return [r for r in records if headers_of(r).get("ce_id") == str(envelope.id)]


async def test_poison_records_are_dead_lettered_and_the_next_record_is_processed(
    consumer: RunningConsumer,
) -> None:
    topic = consumer.topic("poison")
    not_json, unknown_type, healthy = _event("not-json"), _event("unknown-type"), _event("after-the-poison")
    key, _, headers = to_record(not_json)
    offsets = await produce(consumer.scratch.bootstrap, topic, [
        (key, b"{this is not json", headers),
        _with_type(unknown_type, "channel.exploded"),
        to_record(healthy),
    ], partition=0)

    await eventually(lambda: _processed(consumer, healthy), "the record behind the poison is processed", 90)
    dead = await read_until(consumer.scratch.bootstrap, f"{topic}.dlq", lambda records: len(records) >= 2)

    assert len(dead) == 2
    [malformed] = _dlq_of(dead, not_json)
    assert malformed.value == b"{this is not json", "the original record is kept as it was"
    assert headers_of(malformed)["x-dlq-reason"] == "malformed"
    assert "not JSON" in headers_of(malformed)["x-dlq-error"]
    assert headers_of(malformed)["x-dlq-original-offset"] == str(offsets[0])
    [unknown] = _dlq_of(dead, unknown_type)
    assert headers_of(unknown)["x-dlq-reason"] == "poison"
    assert "channel.exploded" in headers_of(unknown)["x-dlq-error"]
    assert headers_of(unknown)["x-dlq-original-offset"] == str(offsets[1])
    for record in dead:
        assert headers_of(record)["x-dlq-original-topic"] == topic
        assert headers_of(record)["x-dlq-original-partition"] == "0"
        assert headers_of(record)["x-dlq-consumer"] == consumer.group
    assert consumer.attempts["after-the-poison"] == 1
    await consumer.wait_until_committed("poison", offsets[-1] + 1)


async def test_handler_failing_every_time_is_retried_then_dead_lettered(consumer: RunningConsumer) -> None:
    topic = consumer.topic("exhausted")
    broken, healthy = _event("fail-always"), _event("after-the-bug")
    records = [to_record(broken), to_record(healthy)]
    offsets = await produce(consumer.scratch.bootstrap, topic, records, partition=0)

    await eventually(lambda: _processed(consumer, healthy), "the record behind the failing one is processed")
    [dead] = await read_until(consumer.scratch.bootstrap, f"{topic}.dlq", lambda records: len(records) >= 1)

    assert headers_of(dead)["ce_id"] == str(broken.id)
    assert headers_of(dead)["x-dlq-reason"] == "retries_exhausted"
    assert headers_of(dead)["x-dlq-error"] == "RuntimeError: handler bug on fail-always"
    assert headers_of(dead)["x-dlq-original-offset"] == str(offsets[0])
    assert consumer.attempts["fail-always"] == MAX_ATTEMPTS
    assert await consumer.effects_for(broken) == 0
    assert not await consumer.inbox_has(broken), "a failed attempt leaves no inbox row behind"
    await consumer.wait_until_committed("exhausted", offsets[-1] + 1)


async def test_handler_failing_transiently_is_processed_once_without_dead_letter(
    consumer: RunningConsumer,
) -> None:
    flaky = _event("fail-twice")
    topic = consumer.topic("transient")
    [offset] = await produce(consumer.scratch.bootstrap, topic, [to_record(flaky)], partition=0)

    await eventually(lambda: _processed(consumer, flaky), "the flaky event is processed", 90)
    await consumer.wait_until_committed("transient", offset + 1)
    assert consumer.attempts["fail-twice"] == 3
    assert await consumer.effects_for(flaky) == 1
    assert await read_to_end(consumer.scratch.bootstrap, f"{consumer.topic('transient')}.dlq") == []


async def test_infrastructure_outage_is_retried_past_the_attempt_limit(consumer: RunningConsumer) -> None:
    event = _event("outage")
    topic = consumer.topic("outage")
    [offset] = await produce(consumer.scratch.bootstrap, topic, [to_record(event)], partition=0)

    await eventually(lambda: _processed(consumer, event), "the event is processed once the outage ends", 90)
    await consumer.wait_until_committed("outage", offset + 1)
    assert consumer.attempts["outage"] == MAX_ATTEMPTS + 3
    assert await consumer.effects_for(event) == 1
    assert await read_to_end(consumer.scratch.bootstrap, f"{consumer.topic('outage')}.dlq") == []


async def _processed(consumer: RunningConsumer, envelope: Envelope) -> bool:
    return await consumer.effects_for(envelope) == 1 and await consumer.inbox_has(envelope)


async def test_record_whose_dead_letter_cannot_be_written_holds_the_partition(scratch: Scratch) -> None:
    """A poison record is never skipped: while its dead letter cannot be written, the partition waits."""
    topic, group = scratch.topic("dlq-outage"), scratch.topic("kit-dlq-outage")
    await create_topics(scratch.bootstrap, [topic, f"{topic}.dlq"])
    unwritable, healthy = _event("unwritable"), _event("behind-the-outage")
    key, _, headers = to_record(unwritable)
    poison = b"not json " * 200
    offsets = await produce(scratch.bootstrap, topic, [(key, poison, headers), to_record(healthy)], partition=0)

    async def handle(session: AsyncSession, envelope: Envelope) -> None:
        await record_effect(session, scratch.tables, group, envelope)

    async def start_consumer(dlq_producer: AIOKafkaProducer) -> ConsumerLoop:
        runner = ConsumerRunner(scratch.db, scratch.tables.kit, dlq_producer,
                                Subscription(consumer=group, topics=(topic,), handler=handle),
                                max_attempts=MAX_ATTEMPTS, base_backoff=0.05, max_backoff=0.2)
        loop = ConsumerLoop(runner, scratch.bootstrap, client_id="kit-dlq-outage")
        await loop.start()
        return loop

    async def dead_letter_retried() -> bool:
        retries = REGISTRY.get_sample_value("parley_consumer_retries_total", {"consumer": group, "topic": topic})
        return (retries or 0) >= 2

    # The DLQ refuses the record (a producer whose size limit it exceeds stands in for an outage or a
    # missing .dlq topic): the consumer keeps trying instead of moving past it.
    refusing = AIOKafkaProducer(bootstrap_servers=scratch.bootstrap, acks="all", max_request_size=1024)
    await refusing.start()
    first = await start_consumer(refusing)
    try:
        await eventually(dead_letter_retried, "the consumer retries writing the dead letter", 90)
        assert await scratch.count(scratch.tables.effects) == 0, "the record behind it waits its turn"
        assert (await committed_offset(scratch.bootstrap, group, topic) or 0) <= offsets[0]
    finally:
        await first.stop(grace=2.0)
        await refusing.stop()

    # Once the dead letter can be written, nothing is missing: the poison is parked, the next one processed.
    producer = create_producer(scratch.settings(), client_id="kit-dlq-outage-healed")
    await producer.start()
    second = await start_consumer(producer)
    try:
        [dead] = await read_until(scratch.bootstrap, f"{topic}.dlq", lambda records: len(records) >= 1)
        assert (headers_of(dead)["ce_id"], dead.value) == (str(unwritable.id), poison)
        await eventually(lambda: _processed_by(scratch, group, healthy), "the next record is processed", 90)
    finally:
        await second.stop()
        await producer.stop()


async def _processed_by(scratch: Scratch, group: str, envelope: Envelope) -> bool:
    effects = scratch.tables.effects
    return await scratch.count(effects, effects.c.event_id == envelope.id, effects.c.consumer == group) == 1
