"""Idempotent consumers: inbox rows + effects in one transaction per batch, offsets committed after it.

A batch is the records one fetch returned for one partition, in offset order. Its events are claimed
in the inbox with one statement, their handlers run in offset order in the same transaction, and only
after the commit does the loop (``parley.kit.consumer_loop``) commit the partition's offset.

Failures keep their per-event meaning: infrastructure outages are retried until they pass (the
partition waits, nothing is skipped); poison messages go to ``<topic>.dlq`` with the reason in headers
at once; any other error is retried with backoff and dead-lettered when attempts run out. When a
batch fails on one event, the batch is rolled back and its events are processed one at a time, so
one bad event neither blocks nor loses the others.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from aiokafka import AIOKafkaProducer, ConsumerRecord
from aiokafka.errors import KafkaConnectionError
from opentelemetry import trace
from pydantic import ValidationError
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from parley.contracts import Envelope
from parley.contracts.binding import MalformedEvent, from_record
from parley.contracts.registry import UnknownEventType
from parley.kit import metrics, rls
from parley.kit.db import Database
from parley.kit.eventstore import KitTables
from parley.kit.faults import crash_point
from parley.kit.telemetry import context_from_headers, get_logger, tenant_context, tracer

log = get_logger(__name__)

Handler = Callable[[AsyncSession, Envelope], Awaitable[None]]
#: Called once per tenant of a batch with that tenant's new events in offset order (bulk upserts).
BatchHandler = Callable[[AsyncSession, list[Envelope]], Awaitable[None]]
#: Called (in a system-scoped transaction) with ``topic``, ``{partition: caught_up_at}`` and the topic's partition
#: count: every record appended to the partition before ``caught_up_at`` has been processed and committed.
ProgressHandler = Callable[[AsyncSession, str, dict[int, datetime], int], Awaitable[None]]


class PoisonMessage(Exception):
    """The event can never be processed (bad content for this consumer): dead-letter it."""


POISON = (PoisonMessage, MalformedEvent, UnknownEventType, ValidationError)
INFRASTRUCTURE = (sa_exc.OperationalError, sa_exc.InterfaceError, OSError, ConnectionError, TimeoutError,
                  KafkaConnectionError)


@dataclass(frozen=True)
class Subscription:
    """``consumer`` is both the Kafka group id and the inbox's consumer name.

    Give a per-event ``handler`` or a ``batch_handler``; both receive the open transaction, scoped to the
    events' tenant (row-level security), and must only flush. A handler may run again after its
    transaction was rolled back (a retry, or a batch that failed on another event), so it writes only
    through that transaction: external effects belong after the commit (an outbox, a queued row).

    ``on_progress``, if given, learns how far each partition has been processed, as a time: a consumer
    that must know "anything published before T has reached me" (the sender, before it resends a message
    whose fate Meta's statuses would tell) reads that instead of assuming the pipeline keeps up.
    """

    consumer: str
    topics: tuple[str, ...]
    handler: Handler | None = None
    event_types: frozenset[str] | None = None
    batch_handler: BatchHandler | None = None
    on_progress: ProgressHandler | None = None

    def __post_init__(self) -> None:
        if (self.handler is None) == (self.batch_handler is None):
            raise ValueError(f"subscription {self.consumer} needs exactly one of handler and batch_handler")


@dataclass(frozen=True)
class Delivery:
    """A decoded record waiting for its handler."""

    record: ConsumerRecord
    envelope: Envelope


class _EventFailed(Exception):
    """The handler of ``pending[index]`` raised ``cause`` (``index`` None: the failure has no single event)."""

    def __init__(self, index: int | None, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.index, self.cause = index, cause


def _by_tenant(pending: list[Delivery], indexes: list[int]) -> dict[UUID | None, list[int]]:
    """Events grouped by tenant, tenants in first-seen order, each group in offset order.

    Safe for ordering: partition keys never span tenants (message topics are keyed by tenant + wa_id,
    channel topics by a phone number that belongs to one tenant), so per-key order is kept. It lets a
    batch set its row-level security scope once per tenant instead of once per event.
    """
    groups: dict[UUID | None, list[int]] = {}
    for index in indexes:
        groups.setdefault(pending[index].envelope.tenantid, []).append(index)
    return groups


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
        """Process one record on its own to a final outcome (``processed``, ``duplicate``, ``ignored``,
        ``dead_lettered``); for tools and tests that hand a consumer single records, as Kafka would."""
        envelope = await self._decode(record)
        if isinstance(envelope, str):
            return envelope
        outcome = await self._process_with_retries(Delivery(record, envelope))
        self._count(record, outcome)
        return outcome

    # -- batches -----------------------------------------------------------------------------------

    async def handle_batch(self, records: Sequence[ConsumerRecord]) -> None:
        """Process one partition's records (offset order) to final outcomes; returns when all may be committed."""
        if not records:
            return
        metrics.CONSUMER_BATCH_SIZE.labels(self.subscription.consumer).observe(len(records))
        pending: list[Delivery] = []
        seen: set[UUID] = set()
        for record in records:
            envelope = await self._decode(record)
            if isinstance(envelope, str):
                continue
            if envelope.id in seen:  # the same event twice in one fetch: the inbox would refuse it anyway
                self._count(record, "duplicate")
                continue
            seen.add(envelope.id)
            pending.append(Delivery(record, envelope))
        if pending:
            await self._process_batch(pending)

    async def _process_batch(self, pending: list[Delivery]) -> None:
        attempt = 0
        while True:
            try:
                outcomes = await self._process_together(pending)
            except _EventFailed as failed:
                if not isinstance(failed.cause, INFRASTRUCTURE):
                    await self._one_at_a_time(pending, failed)
                    return
                attempt += 1
                topic = pending[0].record.topic
                log.warning("infrastructure unavailable; retrying the batch", consumer=self.subscription.consumer,
                            topic=topic, events=len(pending), attempt=attempt, error=str(failed.cause))
                metrics.CONSUMER_RETRIES.labels(self.subscription.consumer, topic).inc()
                await asyncio.sleep(self._backoff(attempt))
                continue
            for delivery, outcome in zip(pending, outcomes, strict=True):
                self._count(delivery.record, outcome)
            return

    async def _process_together(self, pending: list[Delivery]) -> list[str]:
        """One transaction for the whole batch: claim every event, run the handlers of the new ones, commit."""
        try:
            async with self.db.unit_of_work() as session:
                claimed = await self._claim(session, [d.envelope.id for d in pending])
                fresh = [i for i, d in enumerate(pending) if d.envelope.id in claimed]
                if self.subscription.batch_handler is not None:
                    await self._run_batch_handler(session, pending, fresh)
                else:
                    for tenant_id, indexes in _by_tenant(pending, fresh).items():
                        await rls.scope(session, tenant_id)
                        for index in indexes:
                            try:
                                await self._run_handler(session, pending[index])
                            except Exception as exc:
                                raise _EventFailed(index, exc) from exc
        except _EventFailed:
            raise
        except Exception as exc:  # claim, batch handler or commit: no single event to blame
            raise _EventFailed(None, exc) from exc
        crash_point("consumer.after_commit")
        return ["processed" if d.envelope.id in claimed else "duplicate" for d in pending]

    async def _claim(self, session: AsyncSession, event_ids: list[UUID]) -> set[UUID]:
        inbox = self.tables.inbox
        statement = insert(inbox).on_conflict_do_nothing().returning(inbox.c.event_id)
        rows = [{"consumer": self.subscription.consumer, "event_id": event_id} for event_id in event_ids]
        return set((await session.execute(statement, rows)).scalars())

    async def _run_handler(self, session: AsyncSession, delivery: Delivery) -> None:
        assert self.subscription.handler is not None
        with self._span(delivery):
            await self.subscription.handler(session, delivery.envelope)

    async def _run_batch_handler(self, session: AsyncSession, pending: list[Delivery], fresh: list[int]) -> None:
        """One call per tenant (first-seen order), each under its tenant's scope, events in offset order."""
        assert self.subscription.batch_handler is not None
        for tenant_id, indexes in _by_tenant(pending, fresh).items():
            group = [pending[i] for i in indexes]
            await rls.scope(session, tenant_id)
            with self._batch_span(group), tenant_context(tenant_id):
                await self.subscription.batch_handler(session, [d.envelope for d in group])

    async def _one_at_a_time(self, pending: list[Delivery], failed: _EventFailed) -> None:
        """The batch was rolled back: give each event its own transaction and its own fate."""
        log.warning("batch failed; processing its events one at a time", consumer=self.subscription.consumer,
                    topic=pending[0].record.topic, events=len(pending),
                    error=f"{type(failed.cause).__name__}: {failed.cause}")
        for index, delivery in enumerate(pending):
            first_failure = failed.cause if index == failed.index else None
            with self._span(delivery):
                outcome = await self._process_with_retries(delivery, first_failure)
            self._count(delivery.record, outcome)

    # -- one event ---------------------------------------------------------------------------------

    async def _decode(self, record: ConsumerRecord) -> Envelope | str:
        """The record's envelope, or its (already counted) final outcome when it was dead-lettered as malformed
        or is not for this consumer."""
        try:
            envelope = from_record(record.value, record.headers or ())
        except MalformedEvent as exc:
            await self.dead_letter(record, "malformed", str(exc))
            self._count(record, "dead_lettered")
            return "dead_lettered"
        if self.subscription.event_types is not None and envelope.type not in self.subscription.event_types:
            self._count(record, "ignored")
            return "ignored"
        return envelope

    async def _process_with_retries(self, delivery: Delivery, first_failure: BaseException | None = None) -> str:
        """Retry one event until it is processed, a duplicate or dead-lettered.

        ``first_failure`` is what the event raised in its batch: it counts as the first attempt.
        """
        record, envelope = delivery.record, delivery.envelope
        attempt = 0
        failure = first_failure
        while True:
            if failure is None:
                try:
                    return await self._process_once(envelope)
                except Exception as exc:  # noqa: BLE001 - classified just below
                    failure = exc
            if isinstance(failure, POISON):
                await self.dead_letter(record, "poison", f"{type(failure).__name__}: {failure}")
                return "dead_lettered"
            attempt += 1
            if isinstance(failure, INFRASTRUCTURE):
                log.warning("infrastructure unavailable; retrying", consumer=self.subscription.consumer,
                            event_id=str(envelope.id), attempt=attempt, error=str(failure))
            elif attempt >= self.max_attempts:
                log.error("giving up on event", consumer=self.subscription.consumer, event_id=str(envelope.id),
                          error=f"{type(failure).__name__}: {failure}")
                await self.dead_letter(record, "retries_exhausted", f"{type(failure).__name__}: {failure}")
                return "dead_lettered"
            else:
                log.warning("handler failed; retrying", consumer=self.subscription.consumer,
                            event_id=str(envelope.id), attempt=attempt, error=f"{type(failure).__name__}: {failure}")
            failure = None
            metrics.CONSUMER_RETRIES.labels(self.subscription.consumer, record.topic).inc()
            await asyncio.sleep(self._backoff(attempt))

    async def _process_once(self, envelope: Envelope) -> str:
        async with self.db.unit_of_work(tenant_id=envelope.tenantid, system=envelope.tenantid is None) as session:
            if not await self._claim(session, [envelope.id]):
                return "duplicate"
            if self.subscription.batch_handler is not None:
                await self.subscription.batch_handler(session, [envelope])
            else:
                assert self.subscription.handler is not None
                await self.subscription.handler(session, envelope)
        crash_point("consumer.after_commit")
        return "processed"

    # -- shared ------------------------------------------------------------------------------------

    def _backoff(self, attempt: int) -> float:
        return min(self.base_backoff * 2 ** (attempt - 1), self.max_backoff)

    def _count(self, record: ConsumerRecord, outcome: str) -> None:
        metrics.CONSUMED.labels(self.subscription.consumer, record.topic, outcome).inc()

    @contextmanager
    def _span(self, delivery: Delivery) -> Iterator[None]:
        """The event's consumer span (continuing its producer's trace) and its tenant in the logs."""
        record, envelope = delivery.record, delivery.envelope
        with tracer().start_as_current_span(f"{record.topic} process", context=context_from_headers(_headers(record)),
                                            kind=trace.SpanKind.CONSUMER,
                                            attributes={"messaging.system": "kafka",
                                                        "messaging.destination.name": record.topic,
                                                        "messaging.message.id": str(envelope.id),
                                                        "messaging.consumer.group.name": self.subscription.consumer}), \
                tenant_context(envelope.tenantid):
            yield

    @contextmanager
    def _batch_span(self, deliveries: list[Delivery]) -> Iterator[None]:
        """One span for a bulk handler call, linked to the trace of every event in it."""
        links = [trace.Link(trace.get_current_span(context_from_headers(_headers(d.record))).get_span_context())
                 for d in deliveries]
        topic = deliveries[0].record.topic
        with tracer().start_as_current_span(f"{topic} process", kind=trace.SpanKind.CONSUMER, links=links,
                                            attributes={"messaging.system": "kafka",
                                                        "messaging.destination.name": topic,
                                                        "messaging.batch.message_count": len(deliveries),
                                                        "messaging.consumer.group.name": self.subscription.consumer}):
            yield

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
                await asyncio.sleep(self._backoff(attempt))
        metrics.DEAD_LETTERED.labels(self.subscription.consumer, record.topic).inc()
        log.error("event dead-lettered", consumer=self.subscription.consumer, topic=record.topic,
                  partition=record.partition, offset=record.offset, reason=reason, error=error[:500])
