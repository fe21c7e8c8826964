"""Inspect and replay dead letters: ``python -m parley.kit.dlq list|replay <topic>.dlq``.

``replay`` sends every dead letter back to the topic it came from (``x-dlq-original-topic``) with
its original key, value and CloudEvents headers, then commits its position in the DLQ under one
consumer group, so running it twice replays nothing twice. Consumers dedupe by event id, so a
letter whose event was processed after all changes nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import uuid
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition

REPLAY_GROUP = "parley.dlq-replay"


@dataclass(frozen=True)
class DeadLetter:
    partition: int
    offset: int
    original_topic: str
    reason: str
    error: str
    event_type: str | None
    event_id: str | None


def describe(record: ConsumerRecord) -> DeadLetter:
    headers = {k: v.decode(errors="replace") for k, v in record.headers or ()}
    return DeadLetter(record.partition, record.offset, headers.get("x-dlq-original-topic", ""),
                      headers.get("x-dlq-reason", ""), headers.get("x-dlq-error", ""), headers.get("ce_type"),
                      headers.get("ce_id"))


async def _drain(consumer: AIOKafkaConsumer, topic: str) -> list[ConsumerRecord]:
    """Everything after the group's committed position, up to the end offsets seen at start."""
    ends = await consumer.end_offsets(list(consumer.assignment()))
    records: list[ConsumerRecord] = []

    async def behind() -> bool:
        return any([await consumer.position(tp) < end for tp, end in ends.items()])

    while await behind():
        batch = await consumer.getmany(timeout_ms=1000)
        for messages in batch.values():
            records.extend(m for m in messages if m.offset < ends[TopicPartition(m.topic, m.partition)])
    return records


async def dead_letters(bootstrap: str, topic: str, *, group: str | None, limit: int | None = None,
                       commit: bool = False, producer: AIOKafkaProducer | None = None) -> list[DeadLetter]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group or f"parley.dlq-list-{uuid.uuid4().hex}",
                                enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    try:
        await consumer.topics()  # refreshes cluster metadata
        partitions = consumer.partitions_for_topic(topic) or set()
        consumer.assign([TopicPartition(topic, p) for p in sorted(partitions)])
        for tp in consumer.assignment():
            committed = await consumer.committed(tp) if group else None
            if committed is None:
                await consumer.seek_to_beginning(tp)
            else:
                consumer.seek(tp, committed)
        records = await _drain(consumer, topic)
        if limit is not None:
            records = records[:limit]
        for record in records:
            if producer is not None:
                headers = [(k, v) for k, v in record.headers or () if not k.startswith("x-dlq-")]
                await producer.send_and_wait(describe(record).original_topic, value=record.value, key=record.key,
                                             headers=headers)
            if commit:
                await consumer.commit({TopicPartition(record.topic, record.partition): record.offset + 1})
        return [describe(r) for r in records]
    finally:
        await consumer.stop()


async def replay(bootstrap: str, topic: str, limit: int | None = None, idempotent: bool = False) -> int:
    """Send dead letters back to where they came from; returns how many."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=idempotent)
    await producer.start()
    try:
        letters = await dead_letters(bootstrap, topic, group=REPLAY_GROUP, limit=limit, commit=True,
                                     producer=producer)
    finally:
        await producer.stop()
    if any(not letter.original_topic for letter in letters):
        print("warning: some dead letters had no x-dlq-original-topic header", file=sys.stderr)
    return len(letters)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m parley.kit.dlq", description=__doc__)
    parser.add_argument("command", choices=["list", "replay"])
    parser.add_argument("topic", help="a dead-letter topic, e.g. message.received.dlq")
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args(argv)
    if not args.topic.endswith(".dlq"):
        parser.error("the topic must be a dead-letter topic (<topic>.dlq)")
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:19092")
    if args.command == "list":
        letters = asyncio.run(dead_letters(bootstrap, args.topic, group=None, limit=args.limit))
        for letter in letters:
            print(f"{letter.partition}:{letter.offset}  {letter.event_type or '-'}  {letter.event_id or '-'}  "
                  f"{letter.reason}: {letter.error[:200]}")
        print(f"{len(letters)} dead letters in {args.topic}")
    else:
        idempotent = os.environ.get("KAFKA_IDEMPOTENT_PRODUCER", "false").lower() == "true"
        count = asyncio.run(replay(bootstrap, args.topic, args.limit, idempotent))
        print(f"replayed {count} dead letters from {args.topic}")


if __name__ == "__main__":
    main()
