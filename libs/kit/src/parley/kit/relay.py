"""Outbox relay: publishes stored events in order of their position, so in order per key."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from contextlib import suppress

from aiokafka import AIOKafkaProducer
from sqlalchemy import func, select, text, update

from parley.contracts import Envelope
from parley.contracts.binding import stored_to_record, to_record
from parley.kit import metrics
from parley.kit.db import Database
from parley.kit.eventstore import OUTBOX_CHANNEL_PREFIX, KitTables
from parley.kit.faults import crash_point
from parley.kit.telemetry import get_logger

log = get_logger(__name__)

#: Seconds between two counts of the unpublished events (the ``parley_outbox_backlog`` gauge) while publishing.
BACKLOG_COUNT_INTERVAL = 1.0


class OutboxRelay:
    """Claims unpublished events (``FOR UPDATE SKIP LOCKED``), publishes them, marks them published.

    A transaction-scoped advisory lock keeps one active publisher per service schema, so the
    events of one key are never published by two replicas at once (which could reorder them).
    A crash before the commit republishes the whole batch in the same order; consumers dedupe.
    """

    def __init__(self, db: Database, tables: KitTables, producer: AIOKafkaProducer, *,
                 batch_size: int = 200, idle_seconds: float = 0.05, topic_prefix: str = "") -> None:
        self.db = db
        self.tables = tables
        self.producer = producer
        self.batch_size = batch_size
        self.idle_seconds = idle_seconds
        self.topic_prefix = topic_prefix
        self._appended = asyncio.Event()
        self._backlog_counted_at = -BACKLOG_COUNT_INTERVAL

    async def publish_batch(self) -> int:
        """Publish one batch; returns how many events went out."""
        es = self.tables.event_store
        async with self.db.unit_of_work(system=True) as session:
            lock = await session.execute(
                select(func.pg_try_advisory_xact_lock(func.hashtext(text("'parley.relay.' || current_schema()"))))
            )
            if not lock.scalar_one():
                return 0
            rows = (await session.execute(
                select(es.c.position, es.c.topic, es.c.envelope, es.c.partition_key)
                .where(es.c.published_at.is_(None), es.c.topic.is_not(None))
                .order_by(es.c.position)
                .limit(self.batch_size)
                .with_for_update(skip_locked=True)
            )).all()
            if not rows:
                return 0
            deliveries = []
            for _, topic, stored, key in rows:
                if key is None:  # not stored with its key: derive it from the typed payload
                    record = to_record(Envelope.model_validate(stored))
                else:  # validated when appended: published as stored
                    record = stored_to_record(stored, key)
                sent = await self.producer.send(self.topic_prefix + topic, value=record[1], key=record[0],
                                                headers=record[2])
                deliveries.append(sent)
                crash_point("relay.mid_batch")
            await asyncio.gather(*deliveries)
            await session.execute(
                update(es).where(es.c.position.in_([r.position for r in rows])).values(published_at=func.now())
            )
            for topic, count in Counter(row.topic for row in rows).items():
                metrics.OUTBOX_PUBLISHED.labels(topic=topic).inc(count)
            return len(rows)

    async def backlog(self) -> int:
        es = self.tables.event_store
        async with self.db.unit_of_work(system=True) as session:
            query = select(func.count()).where(es.c.published_at.is_(None), es.c.topic.is_not(None))
            return int((await session.execute(query)).scalar_one())

    async def run(self) -> None:
        """Publish until cancelled; failures are logged, counted and retried with backoff.

        Between batches it waits for an append's NOTIFY (LISTEN on a connection of its own), so an event
        leaves within milliseconds of its commit; ``idle_seconds`` remains the polling fallback.
        """
        listener = asyncio.create_task(self._listen(), name="outbox-listener")
        try:
            await self._publish_forever()
        finally:
            listener.cancel()
            with suppress(asyncio.CancelledError, Exception):
                await listener

    async def _publish_forever(self) -> None:
        failures = 0
        while True:
            self._appended.clear()  # before the query: an append committed meanwhile wakes the wait below
            try:
                published = await self.publish_batch()
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception:
                failures += 1
                metrics.OUTBOX_ERRORS.inc()
                log.exception("outbox relay batch failed; retrying", attempt=failures)
                await asyncio.sleep(min(0.2 * 2**failures, 10.0))
                continue
            if published < self.batch_size:
                await self._gauge_backlog(published)
                with suppress(TimeoutError):
                    await asyncio.wait_for(self._appended.wait(), self.idle_seconds)

    async def _gauge_backlog(self, published: int) -> None:
        """Keep the backlog gauge fresh, counting at most once a second: under a steady trickle a count after
        every small batch would double the relay's queries and delay the next publish by one of them."""
        if published == 0:
            metrics.OUTBOX_BACKLOG.set(0)
            return
        now = time.monotonic()
        if now - self._backlog_counted_at >= BACKLOG_COUNT_INTERVAL:
            self._backlog_counted_at = now
            metrics.OUTBOX_BACKLOG.set(await self.backlog())

    def _on_append(self, *_: object) -> None:
        self._appended.set()

    async def _listen(self) -> None:
        """Hold a LISTEN for this schema's appends; reconnect after a failure (polling covers the gap)."""
        while True:
            try:
                await self._listen_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the relay still polls while the listener is down
                log.warning("outbox listener unavailable; polling only", error=f"{type(exc).__name__}: {exc}")
            await asyncio.sleep(5)

    async def _listen_once(self) -> None:
        """LISTEN on one connection until cancelled or the connection dies."""
        async with self.db.engine.connect() as connection:
            schema = (await connection.execute(select(func.current_schema()))).scalar_one()
            await connection.commit()  # a session inside a transaction neither starts listening nor hears NOTIFYs
            driver = (await connection.get_raw_connection()).driver_connection
            lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            driver.add_termination_listener(lambda *_: lost.done() or lost.set_result(None))
            await driver.add_listener(OUTBOX_CHANNEL_PREFIX + schema, self._on_append)
            try:
                await lost
            finally:
                with suppress(Exception):
                    await driver.remove_listener(OUTBOX_CHANNEL_PREFIX + schema, self._on_append)
        log.warning("outbox listener connection closed; reconnecting")
