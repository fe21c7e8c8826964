"""Consumer progress: a partition counts as processed up to a time only once its records up to then are.

The sender resends a message whose outcome is unknown only when every partition of Meta's statuses
is processed past a moment; these tests hold the loop to what that needs: idle partitions report
progress, and a partition whose records are fetched but not all processed reports none past them.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from parley.contracts import Envelope
from parley.contracts.binding import to_record
from parley.kit.consumer import ConsumerRunner, Subscription
from parley.kit.consumer_loop import ConsumerLoop
from parley.kit.kafka import create_producer
from tests.integration.kit.kit_harness import Scratch, channel_update, create_topics, eventually, label_of, produce

pytestmark = pytest.mark.integration


async def test_a_partition_reports_progress_past_its_records_only_once_they_are_processed(scratch: Scratch) -> None:
    topic, group = scratch.topic("progress"), scratch.topic("progress-group")
    await create_topics(scratch.bootstrap, [topic, f"{topic}.dlq"], partitions=3)
    progress: dict[int, datetime] = {}
    counts: list[int] = []
    seen_while_handling: dict[str, datetime | None] = {}

    async def handler(session: AsyncSession, envelope: Envelope) -> None:
        await asyncio.sleep(0.15)  # slow enough that the loop runs report rounds between the batches
        seen_while_handling[label_of(envelope) or ""] = progress.get(0)

    async def on_progress(session: AsyncSession, reported_topic: str, caught_up: dict[int, datetime],
                          partitions: int) -> None:
        assert reported_topic == topic
        counts.append(partitions)
        for partition, at in caught_up.items():
            assert at >= progress.get(partition, at), "progress never goes back"
            progress[partition] = at

    producer = create_producer(scratch.settings(), client_id="kit-progress-dlq")
    await producer.start()
    runner = ConsumerRunner(scratch.db, scratch.tables.kit, producer,
                            Subscription(group, (topic,), handler=handler, on_progress=on_progress))
    # Two records per batch: partition 0's six records take three fetch rounds, with reports in between.
    loop = ConsumerLoop(runner, scratch.bootstrap, client_id="kit-progress", max_records=2, progress_interval=0.05)
    started = datetime.now(UTC)
    await loop.start()
    try:
        await eventually(lambda: _past(progress, range(3), started), "every idle partition reports progress", 90)
        assert set(counts) == {3}, "each report says how many partitions the topic has"

        labels = [f"record-{n}" for n in range(6)]
        await produce(scratch.bootstrap, topic, [
            to_record(Envelope.wrap(channel_update("100000000000061", label), source="/tests", tenant_id=None))
            for label in labels], partition=0)
        published = datetime.now(UTC)
        await eventually(lambda: _past(progress, range(3), published), "every partition moves past the records", 90)
    finally:
        await loop.stop()
        await producer.stop()

    assert list(seen_while_handling) == labels
    early = {label: at for label, at in seen_while_handling.items() if at is not None and at >= published}
    assert early == {}, "partition 0 reported progress past records it had not processed yet"


async def _past(progress: dict[int, datetime], partitions: object, moment: datetime) -> bool:
    return all(p in progress and progress[p] > moment for p in partitions)  # type: ignore[attr-defined]
