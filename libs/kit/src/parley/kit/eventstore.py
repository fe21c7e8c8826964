"""Event store: domain events appended in the same transaction as the projections they update.

The event store is also the transactional outbox: rows with a ``topic`` and no ``published_at``
are what the relay publishes. Internal events (``topic`` NULL) only feed projections.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from pydantic import BaseModel
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    func,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.ext.asyncio import AsyncSession

from parley.contracts import Envelope, new_event_id
from parley.contracts.envelope import SPEC_VERSION, utcnow
from parley.contracts.registry import partition_key, spec_for_model
from parley.kit import metrics
from parley.kit.telemetry import current_traceparent

Projector = Callable[[AsyncSession, Envelope], Awaitable[None]]

#: The relay of a schema LISTENs here (see parley.kit.relay); appends of public events NOTIFY it.
OUTBOX_CHANNEL_PREFIX = "parley_outbox_"
OUTBOX_CHANNEL = text(f"'{OUTBOX_CHANNEL_PREFIX}' || current_schema()")


@dataclass(frozen=True)
class Append:
    """One event to append with ``EventStore.record_many``."""

    payload: BaseModel
    aggregate_type: str
    aggregate_id: str
    expected_version: int
    tenant_id: UUID | None
    subject: str | None = None
    traceparent: str | None = None


class ConcurrencyError(Exception):
    """Another writer appended to the aggregate first (or the event was already stored)."""


@dataclass(frozen=True)
class KitTables:
    event_store: Table
    inbox: Table


def define_kit_tables(metadata: MetaData) -> KitTables:
    """Add the event store and the inbox to a service's metadata (its own schema)."""
    event_store = Table(
        "event_store", metadata,
        Column("position", BigInteger, Identity(always=True), primary_key=True),
        Column("event_id", PG_UUID(as_uuid=True), nullable=False, unique=True),
        Column("aggregate_type", String(64), nullable=False),
        Column("aggregate_id", String(256), nullable=False),
        Column("version", Integer, nullable=False),
        Column("tenant_id", PG_UUID(as_uuid=True), nullable=True),
        Column("event_type", String(128), nullable=False),
        Column("topic", String(128), nullable=True),
        Column("partition_key", String(512), nullable=True),
        Column("envelope", JSONB, nullable=False),
        Column("recorded_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("published_at", DateTime(timezone=True), nullable=True),
        UniqueConstraint("aggregate_type", "aggregate_id", "version"),
        Index("ix_event_store_unpublished", "position",
              postgresql_where=text("published_at IS NULL AND topic IS NOT NULL")),
    )
    inbox = Table(
        "inbox", metadata,
        Column("consumer", String(128), primary_key=True),
        Column("event_id", PG_UUID(as_uuid=True), primary_key=True),
        Column("processed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    )
    return KitTables(event_store=event_store, inbox=inbox)


class EventStore:
    """Appends a service's events and applies them to its projections."""

    def __init__(self, tables: KitTables, *, source: str, projector: Projector | None = None) -> None:
        self.tables = tables
        self.source = source
        self.projector = projector

    async def record(
        self,
        session: AsyncSession,
        payload: BaseModel,
        *,
        aggregate_type: str,
        aggregate_id: str,
        expected_version: int,
        tenant_id: UUID | None,
        subject: str | None = None,
        traceparent: str | None = None,
    ) -> Envelope:
        """Append a public (published) event and project it; returns the stored envelope.

        ``traceparent`` defaults to the active span; pass it when the work runs outside the request.
        """
        [envelope] = await self.record_many(session, [Append(payload, aggregate_type, aggregate_id, expected_version,
                                                             tenant_id, subject, traceparent)])
        return envelope

    async def record_many(self, session: AsyncSession, appends: Sequence[Append]) -> list[Envelope]:
        """Append several public events in one statement (all or nothing), then project each in order."""
        envelopes, rows = self._wrap_all(appends)
        await self._insert(session, rows)
        await self._appended(session, envelopes)
        return envelopes

    async def record_new(self, session: AsyncSession, appends: Sequence[Append]) -> list[Envelope]:
        """Append, in one statement, the events whose aggregate version is still free; skip the others.

        For idempotent first events keyed by an outside id (``expected_version=0`` on a wamid, say): a
        duplicate, whether stored earlier or earlier in ``appends``, is dropped instead of failing the
        whole batch. Returns the envelopes stored, in order (only those are projected).
        """
        envelopes, rows = [], []
        for item in appends:
            envelope, row = self._prevalidated(item)
            envelopes.append(envelope)
            rows.append(row)
        stored = await self._insert_rows(session, rows)
        kept = [envelope for envelope in envelopes if envelope.id in stored]
        await self._appended(session, kept)
        return kept

    def _prevalidated(self, item: Append) -> tuple[Envelope, dict[str, Any]]:
        """What ``_wrap_all`` builds for one append, without validating what typed code built a moment ago.

        ``Envelope.wrap`` validates the envelope and the row dumps it again, which doubled the CPU of a bulk
        append; both come out identical (``tests/unit/kit`` holds them to each other).
        """
        spec = spec_for_model(type(item.payload))
        event_id, time = new_event_id(), utcnow()
        subject = item.subject or f"{item.aggregate_type}/{item.aggregate_id}"
        traceparent = item.traceparent or current_traceparent()
        data = item.payload.model_dump(mode="json", exclude_none=True)
        envelope = Envelope.model_construct(id=event_id, type=spec.type, source=self.source, time=time,
                                            subject=subject, tenantid=item.tenant_id, traceparent=traceparent,
                                            schemaversion=spec.version, data=data)
        stored = {"specversion": SPEC_VERSION, "id": str(event_id), "type": spec.type, "source": self.source,
                  "time": time.isoformat().replace("+00:00", "Z"), "subject": subject,
                  "datacontenttype": envelope.datacontenttype,
                  "tenantid": str(item.tenant_id) if item.tenant_id is not None else None,
                  "traceparent": traceparent, "schemaversion": spec.version, "data": data}
        return envelope, {"event_id": event_id, "aggregate_type": item.aggregate_type,
                          "aggregate_id": item.aggregate_id, "version": item.expected_version + 1,
                          "tenant_id": item.tenant_id, "event_type": spec.type, "topic": spec.topic,
                          "partition_key": partition_key(envelope, item.payload), "envelope": stored}

    def _wrap_all(self, appends: Sequence[Append]) -> tuple[list[Envelope], list[dict[str, Any]]]:
        rows, envelopes = [], []
        for item in appends:
            envelope = Envelope.wrap(
                item.payload, source=self.source, tenant_id=item.tenant_id,
                subject=item.subject or f"{item.aggregate_type}/{item.aggregate_id}",
                traceparent=item.traceparent or current_traceparent(),
            )
            spec = spec_for_model(type(item.payload))
            rows.append(self._row(envelope, item.aggregate_type, item.aggregate_id, item.expected_version,
                                  topic=spec.topic, key=partition_key(envelope, item.payload)))
            envelopes.append(envelope)
        return envelopes, rows

    async def _appended(self, session: AsyncSession, envelopes: list[Envelope]) -> None:
        for envelope in envelopes:
            metrics.EVENTS_APPENDED.labels(event_type=envelope.type).inc()
            if self.projector is not None:
                await self.projector(session, envelope)

    async def record_internal(
        self,
        session: AsyncSession,
        event_type: str,
        data: dict[str, Any],
        *,
        aggregate_type: str,
        aggregate_id: str,
        expected_version: int,
        tenant_id: UUID | None,
    ) -> Envelope:
        """Append an event that stays inside this service (it only feeds projections)."""
        envelope = Envelope(type=event_type, source=self.source, tenantid=tenant_id, data=data,
                            subject=f"{aggregate_type}/{aggregate_id}", traceparent=current_traceparent())
        await self._append(session, envelope, aggregate_type, aggregate_id, expected_version, topic=None, key=None)
        return envelope

    async def _append(self, session: AsyncSession, envelope: Envelope, aggregate_type: str, aggregate_id: str,
                      expected_version: int, *, topic: str | None, key: str | None) -> None:
        await self._insert(session, [self._row(envelope, aggregate_type, aggregate_id, expected_version,
                                               topic=topic, key=key)])
        metrics.EVENTS_APPENDED.labels(event_type=envelope.type).inc()
        if self.projector is not None:
            await self.projector(session, envelope)

    @staticmethod
    def _row(envelope: Envelope, aggregate_type: str, aggregate_id: str, expected_version: int, *,
             topic: str | None, key: str | None) -> dict[str, Any]:
        return {"event_id": envelope.id, "aggregate_type": aggregate_type, "aggregate_id": aggregate_id,
                "version": expected_version + 1, "tenant_id": envelope.tenantid, "event_type": envelope.type,
                "topic": topic, "partition_key": key, "envelope": envelope.model_dump(mode="json")}

    async def _insert(self, session: AsyncSession, rows: list[dict[str, Any]]) -> None:
        """One INSERT for all rows; a conflict on any (aggregate version taken, event id known) fails them all."""
        stored = await self._insert_rows(session, rows)
        missing = [row for row in rows if row["event_id"] not in stored]
        if missing:
            first = missing[0]
            raise ConcurrencyError(f"{first['aggregate_type']}/{first['aggregate_id']} is past version "
                                   f"{first['version'] - 1} (or event {first['event_id']} exists)")

    async def _insert_rows(self, session: AsyncSession, rows: list[dict[str, Any]]) -> set[UUID]:
        """One INSERT for all rows, skipping those in conflict; returns the event ids stored."""
        if not rows:
            return set()
        es = self.tables.event_store
        statement = insert(es).on_conflict_do_nothing().returning(es.c.event_id)
        if len(rows) == 1:
            stored = set((await session.execute(statement.values(rows[0]))).scalars())
        else:  # executemany: SQLAlchemy batches the rows into multi-row INSERTs from one cached statement
            stored = set((await session.execute(statement, rows)).scalars())
        published = any(row["topic"] is not None and row["event_id"] in stored for row in rows)
        if published and not session.info.get("outbox_notified"):
            # Delivered at commit: the relay wakes at once instead of at its next poll. Once per unit of work.
            await session.execute(select(func.pg_notify(OUTBOX_CHANNEL, "")))
            session.info["outbox_notified"] = True
        return stored

    async def version_of(self, session: AsyncSession, aggregate_type: str, aggregate_id: str) -> int:
        """The aggregate's current version, 0 when it has no events."""
        es = self.tables.event_store
        query = select(func.coalesce(func.max(es.c.version), 0)).where(
            es.c.aggregate_type == aggregate_type, es.c.aggregate_id == aggregate_id
        )
        return int((await session.execute(query)).scalar_one())

    async def rebuild(self, session: AsyncSession, projection_tables: Sequence[Table], batch: int = 1000) -> int:
        """Empty the projections and replay every stored event into them, in order; returns the count."""
        if self.projector is None:
            return 0
        if projection_tables:
            names = ", ".join(f'"{t.schema}"."{t.name}"' for t in projection_tables)
            await session.execute(text(f"TRUNCATE {names}"))
        es, last, count = self.tables.event_store, 0, 0
        while True:
            rows = (await session.execute(
                select(es.c.position, es.c.envelope).where(es.c.position > last).order_by(es.c.position).limit(batch)
            )).all()
            if not rows:
                return count
            for position, stored in rows:
                await self.projector(session, Envelope.model_validate(stored))
                last, count = position, count + 1
