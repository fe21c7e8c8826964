"""Outbox relay: publishes stored events in order of their position, so in order per key."""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaProducer
from sqlalchemy import func, select, text, update

from parley.contracts import Envelope
from parley.contracts.binding import to_record
from parley.kit import metrics
from parley.kit.db import Database
from parley.kit.eventstore import KitTables
from parley.kit.faults import crash_point
from parley.kit.telemetry import get_logger

log = get_logger(__name__)


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
                select(es.c.position, es.c.topic, es.c.envelope)
                .where(es.c.published_at.is_(None), es.c.topic.is_not(None))
                .order_by(es.c.position)
                .limit(self.batch_size)
                .with_for_update(skip_locked=True)
            )).all()
            if not rows:
                return 0
            deliveries = []
            for _, topic, stored in rows:
                key, value, headers = to_record(Envelope.model_validate(stored))
                sent = await self.producer.send(self.topic_prefix + topic, value=value, key=key, headers=headers)
                deliveries.append(sent)
                crash_point("relay.mid_batch")
            await asyncio.gather(*deliveries)
            await session.execute(
                update(es).where(es.c.position.in_([r.position for r in rows])).values(published_at=func.now())
            )
            for _, topic, _ in rows:
                metrics.OUTBOX_PUBLISHED.labels(topic=topic).inc()
            return len(rows)

    async def backlog(self) -> int:
        es = self.tables.event_store
        async with self.db.unit_of_work(system=True) as session:
            query = select(func.count()).where(es.c.published_at.is_(None), es.c.topic.is_not(None))
            return int((await session.execute(query)).scalar_one())

    async def run(self) -> None:
        """Publish until cancelled; failures are logged, counted and retried with backoff."""
        failures = 0
        while True:
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
                metrics.OUTBOX_BACKLOG.set(0 if published == 0 else await self.backlog())
                await asyncio.sleep(self.idle_seconds)
