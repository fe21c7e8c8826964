"""Idempotent consumers: inbox row + effect in one transaction, offset committed after it.

Failures are classified: infrastructure outages are retried until they pass (the partition
waits, nothing is skipped); poison messages go to ``<topic>.dlq`` with the reason in headers
at once; any other error is retried with backoff and dead-lettered when attempts run out, so
one bad event never blocks the partition behind it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaProducer, ConsumerRecord
from aiokafka.errors import KafkaConnectionError
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from opentelemetry import trace
from pydantic import ValidationError
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from parley.contracts import Envelope
from parley.contracts.binding import MalformedEvent, from_record
from parley.contracts.registry import UnknownEventType
from parley.kit import metrics
from parley.kit.db import Database
from parley.kit.eventstore import KitTables
from parley.kit.faults import crash_point
from parley.kit.telemetry import context_from_headers, get_logger, tenant_context, tracer

log = get_logger(__name__)

Handler = Callable[[AsyncSession, Envelope], Awaitable[None]]


class PoisonMessage(Exception):
    """The event can never be processed (bad content for this consumer): dead-letter it."""


POISON = (PoisonMessage, MalformedEvent, UnknownEventType, ValidationError)
INFRASTRUCTURE = (sa_exc.OperationalError, sa_exc.InterfaceError, OSError, ConnectionError, TimeoutError,
                  KafkaConnectionError)


@dataclass(frozen=True)
class Subscription:
    """``consumer`` is both the Kafka group id and the inbox's consumer name."""

    consumer: str
    topics: tuple[str, ...]
    handler: Handler
    event_types: frozenset[str] | None = None


def _headers(record: ConsumerRecord) -> dict[str, str]:
    return {k: v.decode(errors="replace") for k, v in (record.headers or ())}


class ConsumerRunner:
    def __init__(self, db: Database, tables: KitTables, producer: AIOKafkaProducer, subscription: Subscription,
                 *, max_attempts: int = 6, base_backoff: float = 0.1, max_backoff: float = 10.0) -> None:
        self.db = db
        self.tables = tables
        self.producer = producer
        self.subscription = subscription
        self.max_attempts = max_attempts
        self.base_backoff = base_backoff
        self.max_backoff = max_backoff

    async def handle(self, record: ConsumerRecord) -> str:
        """Process one record to a final outcome; returns only when its offset may be committed."""
        outcome = await self._outcome(record)
        metrics.CONSUMED.labels(self.subscription.consumer, record.topic, outcome).inc()
        return outcome

    async def _outcome(self, record: ConsumerRecord) -> str:
        headers = _headers(record)
        try:
            envelope = from_record(record.value, record.headers or ())
        except MalformedEvent as exc:
            await self.dead_letter(record, "malformed", str(exc))
            return "dead_lettered"
        if self.subscription.event_types is not None and envelope.type not in self.subscription.event_types:
            return "ignored"
        span_name = f"{record.topic} process"
        with tracer().start_as_current_span(span_name, context=context_from_headers(headers),
                                            kind=trace.SpanKind.CONSUMER,
                                            attributes={"messaging.system": "kafka",
                                                        "messaging.destination.name": record.topic,
                                                        "messaging.message.id": str(envelope.id),
                                                        "messaging.consumer.group.name": self.subscription.consumer}), \
                tenant_context(envelope.tenantid):
            return await self._process_with_retries(record, envelope)

    async def _process_with_retries(self, record: ConsumerRecord, envelope: Envelope) -> str:
        attempt = 0
        while True:
            try:
                return await self._process_once(envelope)
            except POISON as exc:
                await self.dead_letter(record, "poison", f"{type(exc).__name__}: {exc}")
                return "dead_lettered"
            except INFRASTRUCTURE as exc:
                attempt += 1
                log.warning("infrastructure unavailable; retrying", consumer=self.subscription.consumer,
                            event_id=str(envelope.id), attempt=attempt, error=str(exc))
            except Exception as exc:  # noqa: BLE001 - classified: retried, then dead-lettered
                attempt += 1
                if attempt >= self.max_attempts:
                    log.exception("giving up on event", consumer=self.subscription.consumer,
                                  event_id=str(envelope.id))
                    await self.dead_letter(record, "retries_exhausted", f"{type(exc).__name__}: {exc}")
                    return "dead_lettered"
                log.warning("handler failed; retrying", consumer=self.subscription.consumer,
                            event_id=str(envelope.id), attempt=attempt, error=f"{type(exc).__name__}: {exc}")
            metrics.CONSUMER_RETRIES.labels(self.subscription.consumer, record.topic).inc()
            await asyncio.sleep(min(self.base_backoff * 2 ** (attempt - 1), self.max_backoff))

    async def _process_once(self, envelope: Envelope) -> str:
        inbox = self.tables.inbox
        async with self.db.unit_of_work() as session:
            claimed = await session.execute(
                insert(inbox).values(consumer=self.subscription.consumer, event_id=envelope.id)
                .on_conflict_do_nothing().returning(inbox.c.event_id)
            )
            if claimed.scalar_one_or_none() is None:
                return "duplicate"
            await self.subscription.handler(session, envelope)
        crash_point("consumer.after_commit")
        return "processed"

    async def dead_letter(self, record: ConsumerRecord, reason: str, error: str) -> None:
        """Copy the record to ``<topic>.dlq`` with why, where from and by whom in its headers.

        Retried until written: raising here would let the consumer move past a record that is
        neither processed nor parked (the next record's offset commit would skip it).
        """
        extra = {
            "x-dlq-reason": reason,
            "x-dlq-error": error[:2000],
            "x-dlq-consumer": self.subscription.consumer,
            "x-dlq-original-topic": record.topic,
            "x-dlq-original-partition": str(record.partition),
            "x-dlq-original-offset": str(record.offset),
            "x-dlq-at": datetime.now(UTC).isoformat(),
        }
        headers = list(record.headers or ()) + [(k, v.encode()) for k, v in extra.items()]
        attempt = 0
        while True:
            try:
                await self.producer.send_and_wait(f"{record.topic}.dlq", value=record.value, key=record.key,
                                                  headers=headers)
                break
            except Exception as exc:  # noqa: BLE001 - the partition waits: a record is never skipped unparked
                attempt += 1
                metrics.CONSUMER_RETRIES.labels(self.subscription.consumer, record.topic).inc()
                log.warning("dead letter not written; retrying", consumer=self.subscription.consumer,
                            topic=record.topic, offset=record.offset, attempt=attempt,
                            error=f"{type(exc).__name__}: {exc}")
                await asyncio.sleep(min(self.base_backoff * 2 ** (attempt - 1), self.max_backoff))
        metrics.DEAD_LETTERED.labels(self.subscription.consumer, record.topic).inc()
        log.error("event dead-lettered", consumer=self.subscription.consumer, topic=record.topic,
                  partition=record.partition, offset=record.offset, reason=reason, error=error[:500])


async def _raw_body(message: Any) -> bytes:
    return message.body


def attach(broker: KafkaBroker, runner: ConsumerRunner) -> None:
    """Register ``runner`` on the FastStream broker with manual acknowledgement."""
    subscription = runner.subscription

    @broker.subscriber(
        *subscription.topics,
        group_id=subscription.consumer,
        ack_policy=AckPolicy.MANUAL,
        auto_offset_reset="earliest",
        decoder=_raw_body,
        max_workers=1,
        title=subscription.consumer,
    )
    async def _consume(body: bytes, msg: KafkaMessage) -> None:
        await runner.handle(msg.raw_message)
        await msg.ack()
