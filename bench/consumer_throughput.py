"""Kit consumer and outbox relay throughput vs. raw aiokafka on the same records, same run.

    .tools/bin/uv run python bench/consumer_throughput.py [--events 20000] [--partitions 4] [--single 1000]

Starts embedded Postgres and Tansu, provisions a scratch service (its own role and schema, as the
kit tests do), publishes N keyed events over 10 tenants, then measures, each from its first record
to its last:

- baseline: a raw aiokafka group member that fetches and commits the records (no decoding, no DB);
- kit, per-event ``handler`` that inserts one row (inbox + row + RLS scope, one transaction per batch);
- kit, ``batch_handler`` that inserts its rows with one statement;
- kit with one record per batch (``max_records=1``: what the consumer did before batching), on ``--single``;
- the outbox relay publishing N stored events, against the raw producer rate of the first step.

Prints events/s and ratios. Group joins are excluded (they take seconds on Tansu).
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer  # noqa: E402
from aiokafka.structs import OffsetAndMetadata  # noqa: E402
from prometheus_client import REGISTRY  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncSession  # noqa: E402

from parley.contracts import Envelope  # noqa: E402
from parley.contracts.binding import to_record  # noqa: E402
from parley.devstack.stack import Infra, InfraPorts  # noqa: E402
from parley.kit.consumer import ConsumerRunner, Subscription  # noqa: E402
from parley.kit.consumer_loop import ConsumerLoop  # noqa: E402
from parley.kit.eventstore import Append  # noqa: E402
from parley.kit.kafka import create_producer  # noqa: E402
from parley.kit.migrations import upgrade_async  # noqa: E402
from parley.kit.provision import Grant, provision  # noqa: E402
from parley.kit.relay import OutboxRelay  # noqa: E402
from tests.integration.kit.kit_harness import (  # noqa: E402
    SCRATCH_MIGRATIONS,
    Scratch,
    channel_update,
    create_topics,
    label_of,
    open_scratch,
    service_database_url,
)

TENANTS = [uuid.uuid4() for _ in range(10)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def envelope(index: int) -> Envelope:
    return Envelope.wrap(channel_update(f"1000000{index % 1000:05d}", f"bench-{index}"), source="/parley/bench",
                         tenant_id=TENANTS[index % len(TENANTS)])


async def produce_all(bootstrap: str, topic: str, events: int) -> float:
    """Publish the events (keyed, several partitions); returns the producer's rate."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=False, linger_ms=5)
    await producer.start()
    records = [to_record(envelope(i)) for i in range(events)]
    started = time.perf_counter()
    try:
        for chunk in range(0, events, 2000):
            sent = [await producer.send(topic, value=v, key=k, headers=h) for k, v, h in records[chunk:chunk + 2000]]
            await asyncio.gather(*sent)
    finally:
        await producer.stop()
    return events / (time.perf_counter() - started)


async def raw_consume(bootstrap: str, topic: str, events: int) -> float:
    """The baseline: fetch and commit per partition batch, nothing else."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=f"bench-raw-{uuid.uuid4().hex[:6]}",
                                enable_auto_commit=False, auto_offset_reset="earliest", max_poll_records=500)
    await consumer.start()
    seen, started = 0, None
    try:
        while seen < events:
            batches = await consumer.getmany(timeout_ms=1000, max_records=500)
            if batches and started is None:
                started = time.perf_counter()
            for tp, records in batches.items():
                seen += len(records)
                await consumer.commit({tp: OffsetAndMetadata(records[-1].offset + 1, "")})
    finally:
        await consumer.stop()
    return events / (time.perf_counter() - started)


async def kit_consume(scratch: Scratch, topic: str, events: int, *, bulk: bool, max_records: int = 500,
                      concurrency: int = 1) -> float:
    """A kit consumer whose handler inserts one row per event; events/s from its first event to its last."""
    consumer = f"bench-{'bulk' if bulk else 'event'}-{max_records}-{uuid.uuid4().hex[:6]}"
    effects = scratch.tables.effects
    started: list[float] = []
    done = asyncio.Event()
    committed = 0

    async def handler(session: AsyncSession, event: Envelope) -> None:
        started.append(time.perf_counter()) if not started else None
        await session.execute(effects.insert().values(consumer=consumer, event_id=event.id, label=label_of(event)))

    async def batch_handler(session: AsyncSession, batch: list[Envelope]) -> None:
        started.append(time.perf_counter()) if not started else None
        await session.execute(effects.insert(), [{"consumer": consumer, "event_id": e.id, "label": label_of(e)}
                                                 for e in batch])

    producer = create_producer(scratch.settings(), client_id="bench-dlq")
    await producer.start()
    subscription = (Subscription(consumer, (topic,), batch_handler=batch_handler) if bulk
                    else Subscription(consumer, (topic,), handler=handler))
    runner = ConsumerRunner(scratch.db, scratch.tables.kit, producer, subscription)
    original = runner.handle_batch

    async def counting(records):  # noqa: ANN001, ANN202 - wraps ConsumerRunner.handle_batch
        nonlocal committed
        await original(records)
        committed += len(records)
        if committed >= events:
            done.set()

    runner.handle_batch = counting  # type: ignore[method-assign]
    loop = ConsumerLoop(runner, scratch.bootstrap, client_id="bench", max_records=max_records,
                        concurrency=concurrency)
    await loop.start()
    try:
        await done.wait()
        finished = time.perf_counter()
    finally:
        await loop.stop()
        await producer.stop()
    assert await scratch.count(effects, effects.c.consumer == consumer) >= events
    size_sum = REGISTRY.get_sample_value("parley_consumer_batch_size_sum", {"consumer": consumer}) or 0
    size_count = REGISTRY.get_sample_value("parley_consumer_batch_size_count", {"consumer": consumer}) or 1
    print(f"  ({consumer}: {size_count:,.0f} partition batches, {size_sum / size_count:,.1f} records on average)")
    return events / (finished - started[0])


async def relay_rate(scratch: Scratch, events: int, batch_size: int) -> tuple[float, float]:
    """Append ``events`` to the outbox (record_many, 500 a transaction), then publish them all; both rates."""
    started = time.perf_counter()
    for chunk in range(0, events, 500):
        async with scratch.db.unit_of_work(system=True) as session:
            await scratch.store.record_many(session, [
                Append(channel_update(f"2000000{i:06d}", f"relay-{i}"), "channel", f"2000000{i:06d}", 0, None)
                for i in range(chunk, min(chunk + 500, events))])
    appended = events / (time.perf_counter() - started)
    producer = create_producer(scratch.settings(), client_id="bench-relay")
    await producer.start()
    relay = OutboxRelay(scratch.db, scratch.tables.kit, producer, batch_size=batch_size,
                        topic_prefix=scratch.topic_prefix)
    started, published = time.perf_counter(), 0
    try:
        while published < events:
            published += await relay.publish_batch()
    finally:
        await producer.stop()
    return appended, events / (time.perf_counter() - started)


async def run(infra: Infra, args: argparse.Namespace) -> None:
    suffix = uuid.uuid4().hex[:8]
    schema = f"kit_bench_{suffix}"
    password = f"bench-{uuid.uuid4().hex}"
    await provision(infra.admin_database_url, [Grant(schema, password, schema)])
    url = service_database_url(infra.admin_database_url, schema, password)
    await upgrade_async(SCRATCH_MIGRATIONS, url, schema)
    scratch = open_scratch(schema, url, f"bench{suffix}.", infra.kafka_bootstrap)
    topic = scratch.topic("message.received")
    await create_topics(scratch.bootstrap, [topic, f"{topic}.dlq", scratch.topic("channel.changed")],
                        partitions=args.partitions)
    n = args.events
    produced = await produce_all(scratch.bootstrap, topic, n)
    print(f"{n:,} events, {args.partitions} partitions, {len(TENANTS)} tenants; producer {produced:,.0f}/s")
    raw = await raw_consume(scratch.bootstrap, topic, n)
    print(f"baseline raw aiokafka consume+commit : {raw:9,.0f} events/s")
    per_event = await kit_consume(scratch, topic, n, bulk=False, concurrency=args.concurrency)
    print(f"kit consumer, per-event handler     : {per_event:9,.0f} events/s  ({per_event / raw:.2f}x raw)")
    bulk = await kit_consume(scratch, topic, n, bulk=True, concurrency=args.concurrency)
    print(f"kit consumer, batch_handler         : {bulk:9,.0f} events/s  ({bulk / raw:.2f}x raw)")
    if args.single:
        single = await kit_consume(scratch, topic, args.single, bulk=False, max_records=1, concurrency=1)
        print(f"kit consumer, one record per batch  : {single:9,.0f} events/s  ({single / raw:.2f}x raw; "
              f"batching is {per_event / single:.1f}x faster)")
    appended, relayed = await relay_rate(scratch, n, args.relay_batch)
    print(f"event store append (record_many)    : {appended:9,.0f} events/s")
    print(f"outbox relay, batch {args.relay_batch:<5}           : {relayed:9,.0f} events/s  "
          f"({relayed / produced:.2f}x raw producer)")
    print(f"\ntarget: kit consumer >= 2,000 events/s -> per-event {per_event:,.0f}/s, bulk {bulk:,.0f}/s")
    await scratch.db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--single", type=int, default=1000, help="events for the one-record-per-batch run (0: skip)")
    parser.add_argument("--relay-batch", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=1, help="partitions processed at once by a kit consumer")
    args = parser.parse_args()
    state = Path(tempfile.mkdtemp(prefix="parley-bench-"))
    infra = Infra(state, InfraPorts(free_port(), free_port(), free_port()), environ={})
    infra.start()
    try:
        asyncio.run(run(infra, args))
    finally:
        infra.stop()


if __name__ == "__main__":
    main()
