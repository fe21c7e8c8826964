"""One consumer-group member per subscription: fetch in batches, process per partition, then commit.

aiokafka directly rather than a framework subscriber: the loop needs the records of each partition
as one batch, offsets committed per partition only after the batch's transaction, and rebalances
that wait for the batch in flight.

When the subscription wants its progress (``Subscription.on_progress``), the loop turns what fetches
tell it into times: a fetch response carries the partition's high watermark, so once every record
below that watermark is processed, everything appended before the response arrived has been
processed. Those times are reported (at most every ``progress_interval`` seconds per partition),
idle partitions included, so "caught up as of T" holds under load as well as at rest.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from contextlib import suppress
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError
from aiokafka.structs import OffsetAndMetadata

from parley.kit.consumer import ConsumerRunner
from parley.kit.telemetry import get_logger

log = get_logger(__name__)


class _WaitForBatch(ConsumerRebalanceListener):
    """Revocation waits (a while) for the batch in flight, so its offsets are committed by their owner."""

    def __init__(self, loop: ConsumerLoop) -> None:
        self.loop = loop

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        try:
            await asyncio.wait_for(self.loop.processing.acquire(), self.loop.rebalance_wait)
        except TimeoutError:  # the batch's commit will fail; the next owner redelivers it and the inbox dedupes
            log.warning("rebalance did not wait for the batch in flight", consumer=self.loop.group)
            return
        self.loop.processing.release()

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        log.info("partitions assigned", consumer=self.loop.group,
                 partitions=sorted(f"{tp.topic}:{tp.partition}" for tp in assigned))


class ConsumerLoop:
    """Runs ``runner`` on its subscription's topics until stopped.

    ``max_records`` bounds one partition's batch; the partitions with records ready are processed together, up
    to ``concurrency`` partitions are processed at once (each in its own transaction), which is what
    more replicas would do too. Manual offset commits, ``auto_offset_reset="earliest"`` so a new group
    misses nothing.
    """

    def __init__(self, runner: ConsumerRunner, bootstrap_servers: str, *, client_id: str,
                 max_records: int = 500, concurrency: int = 1, fetch_wait_ms: int = 100,
                 rebalance_wait: float = 30.0, progress_interval: float = 1.0) -> None:
        self.runner = runner
        self.bootstrap_servers = bootstrap_servers
        self.client_id = client_id
        self.max_records = max_records
        self.fetch_wait_ms = fetch_wait_ms
        self.rebalance_wait = rebalance_wait
        self.processing = asyncio.Lock()
        self._partitions = asyncio.Semaphore(concurrency)
        self.consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self.progress_interval = progress_interval
        #: Per partition, (fetch response time in ms, high watermark it reported), oldest first.
        self._checkpoints: dict[TopicPartition, deque[tuple[int, int]]] = {}
        self._reported: dict[TopicPartition, tuple[int, float]] = {}  # caught-up time sent, when (monotonic)

    @property
    def group(self) -> str:
        return self.runner.subscription.consumer

    async def start(self) -> None:
        """Join the group (raises if the broker is unreachable; call again to retry) and start consuming."""
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap_servers,
            group_id=self.group,
            client_id=self.client_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=self.fetch_wait_ms,
            max_poll_records=self.max_records,
            isolation_level="read_uncommitted",
        )
        consumer.subscribe(list(self.runner.subscription.topics), listener=_WaitForBatch(self))
        try:
            await consumer.start()
        except BaseException:
            with suppress(Exception):
                await consumer.stop()
            raise
        self.consumer = consumer
        self._task = asyncio.create_task(self._run(consumer), name=f"consumer-{self.group}")

    async def stop(self, grace: float = 8.0) -> None:
        """Let the batch in flight finish (up to ``grace`` seconds), then leave the group."""
        if self._task is not None:
            acquired = False
            with suppress(TimeoutError):
                await asyncio.wait_for(self.processing.acquire(), grace)
                acquired = True
            self._task.cancel()
            with suppress(asyncio.CancelledError, Exception):
                await self._task
            if acquired:
                self.processing.release()
            self._task = None
        if self.consumer is not None:
            with suppress(Exception):
                await asyncio.wait_for(self.consumer.stop(), grace)
            self.consumer = None

    async def _run(self, consumer: AIOKafkaConsumer) -> None:
        failures = 0
        while True:
            try:
                batches = await consumer.getmany(timeout_ms=1000, max_records=self.max_records)
                failures = 0
            except Exception as exc:  # noqa: BLE001 - the member keeps fetching; nothing was consumed
                failures += 1
                log.warning("fetch failed; retrying", consumer=self.group, attempt=failures,
                            error=f"{type(exc).__name__}: {exc}")
                await asyncio.sleep(min(0.2 * 2**failures, 5.0))
                continue
            if batches:
                await self._top_up(consumer, batches)
                async with self.processing:
                    await asyncio.gather(*(self._process_partition(consumer, tp, records)
                                           for tp, records in batches.items()))
            if self.runner.subscription.on_progress is not None:
                await self._report_progress(consumer)

    async def _report_progress(self, consumer: AIOKafkaConsumer) -> None:
        """Tell the subscription how far each assigned partition is processed (see the module docstring)."""
        caught_up: dict[TopicPartition, int] = {}
        for tp in consumer.assignment():
            highwater, polled_ms = consumer.highwater(tp), consumer.last_poll_timestamp(tp)
            if highwater is None or polled_ms is None:
                continue  # no fetch response yet: nothing is known
            checkpoints = self._checkpoints.setdefault(tp, deque(maxlen=1024))
            if not checkpoints or checkpoints[-1] != (polled_ms, highwater):
                checkpoints.append((polled_ms, highwater))
            try:
                processed = await consumer.position(tp)  # every record below it was handed out and processed
            except (KafkaError, AssertionError):
                continue
            best = None
            while checkpoints and checkpoints[0][1] <= processed:
                best = checkpoints.popleft()[0]
            if best is not None:
                checkpoints.appendleft((best, processed))  # still true; keeps the time for the next report
                caught_up[tp] = best
        now = time.monotonic()
        due = {}
        for tp, ms in caught_up.items():
            sent_ms, sent_at = self._reported.get(tp, (0, 0.0))
            if sent_ms < ms and now - sent_at >= self.progress_interval:
                due[tp] = ms
        if not due:
            return
        handler = self.runner.subscription.on_progress
        assert handler is not None
        try:
            async with self.runner.db.unit_of_work(system=True) as session:
                for topic in sorted({tp.topic for tp in due}):
                    partitions = consumer.partitions_for_topic(topic) or set()
                    await handler(session, topic, {tp.partition: datetime.fromtimestamp(ms / 1000, UTC)
                                                   for tp, ms in due.items() if tp.topic == topic},
                                  len(partitions))
        except Exception as exc:  # noqa: BLE001 - progress is advisory; the next round reports it again
            log.warning("could not record consumer progress", consumer=self.group, error=f"{type(exc).__name__}: {exc}")
            return
        self._reported.update({tp: (ms, now) for tp, ms in due.items()})

    async def _top_up(self, consumer: AIOKafkaConsumer, batches: dict[TopicPartition, list[ConsumerRecord]]) -> None:
        """One getmany drains one partition first: add what the other partitions have ready already."""
        for tp in consumer.assignment() - batches.keys():
            try:
                batches.update(await consumer.getmany(tp, timeout_ms=0, max_records=self.max_records))
            except Exception as exc:  # noqa: BLE001 - what was fetched so far is processed; the rest waits
                log.warning("fetch failed; retrying", consumer=self.group, error=f"{type(exc).__name__}: {exc}")
                return

    async def _process_partition(self, consumer: AIOKafkaConsumer, tp: TopicPartition,
                                 records: list[ConsumerRecord]) -> None:
        """One partition's batch, then its offset; partitions of one fetch run side by side (up to a limit)."""
        async with self._partitions:
            if tp not in consumer.assignment():
                return  # revoked since the fetch: its next owner reads from the committed offset
            try:
                await self.runner.handle_batch(records)
            except Exception:  # a bug, not a bad event: fetch the batch again rather than skip it
                log.exception("batch crashed; fetching it again", consumer=self.group, topic=tp.topic,
                              partition=tp.partition, offset=records[0].offset)
                with suppress(KafkaError, AssertionError):
                    consumer.seek(tp, records[0].offset)
                await asyncio.sleep(1.0)
                return
            await self._commit(consumer, tp, records[-1].offset + 1)

    async def _commit(self, consumer: AIOKafkaConsumer, tp: TopicPartition, offset: int) -> None:
        try:
            await consumer.commit({tp: OffsetAndMetadata(offset, "")})
        except CommitFailedError as exc:  # rebalanced: the next owner gets the batch again and the inbox dedupes
            log.warning("offset commit refused after a rebalance", consumer=self.group, topic=tp.topic,
                        partition=tp.partition, offset=offset, error=str(exc))
        except KafkaError as exc:  # a later commit covers it; a restart before then only redelivers
            log.warning("offset commit failed", consumer=self.group, topic=tp.topic, partition=tp.partition,
                        offset=offset, error=f"{type(exc).__name__}: {exc}")
