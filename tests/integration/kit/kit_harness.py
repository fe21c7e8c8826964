"""A scratch service for the kit tests: its own role, schema, migrations, projections and topics.

Shared by the in-process tests (through ``conftest.py``) and by ``kit_worker.py``, the process the
fault-injection tests kill and restart. Nothing here imports pytest.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from sqlalchemy import BigInteger, Column, Identity, Integer, MetaData, String, Table, func, select
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from parley.contracts import Envelope
from parley.contracts.events.channels import ChannelUpdated
from parley.kit.db import Database, create_engine, service_metadata
from parley.kit.eventstore import EventStore, KitTables, Projector, define_kit_tables
from parley.kit.settings import ServiceSettings

SCRATCH_MIGRATIONS = Path(__file__).parent / "scratch_migrations"
#: Every public event of the scratch service is a ChannelUpdated: keyed by phone_number_id.
PUBLIC_TOPIC = "channel.changed"


@dataclass(frozen=True)
class ScratchTables:
    metadata: MetaData
    kit: KitTables
    counters: Table
    effects: Table
    notes: Table  # under row-level security (tenant_id)


def scratch_tables(schema: str) -> ScratchTables:
    """The scratch service's tables (as its migration creates them) bound to ``schema``."""
    metadata = service_metadata(schema)
    kit = define_kit_tables(metadata)
    counters = Table(
        "counters", metadata,
        Column("subject", String(256), primary_key=True),
        Column("events", Integer, nullable=False),
        Column("last_event_id", PG_UUID(as_uuid=True), nullable=False),
        Column("last_label", String(256), nullable=True),
    )
    effects = Table(
        "effects", metadata,
        Column("id", BigInteger, Identity(always=True), primary_key=True),
        Column("consumer", String(128), nullable=False),
        Column("event_id", PG_UUID(as_uuid=True), nullable=False),
        Column("label", String(256), nullable=True),
    )
    notes = Table(
        "tenant_notes", metadata,
        Column("id", BigInteger, Identity(always=True), primary_key=True),
        Column("tenant_id", PG_UUID(as_uuid=True), nullable=False),
        Column("body", String(256), nullable=False),
    )
    return ScratchTables(metadata=metadata, kit=kit, counters=counters, effects=effects, notes=notes)


def label_of(envelope: Envelope) -> str | None:
    return envelope.data.get("verified_name") or envelope.data.get("label")


def counting_projector(tables: ScratchTables) -> Projector:
    """Projects every event into ``counters``: events per subject, and the last one seen."""
    counters = tables.counters

    async def project(session: AsyncSession, envelope: Envelope) -> None:
        statement = insert(counters).values(subject=envelope.subject, events=1, last_event_id=envelope.id,
                                            last_label=label_of(envelope))
        await session.execute(statement.on_conflict_do_update(
            index_elements=[counters.c.subject],
            set_={"events": counters.c.events + 1, "last_event_id": statement.excluded.last_event_id,
                  "last_label": statement.excluded.last_label},
        ))

    return project


async def record_effect(session: AsyncSession, tables: ScratchTables, consumer: str,
                        envelope: Envelope) -> None:
    """A consumer's visible effect: one row per processing (duplicates would show as extra rows)."""
    await session.execute(tables.effects.insert().values(consumer=consumer, event_id=envelope.id,
                                                         label=label_of(envelope)))


def channel_update(phone_number_id: str, label: str) -> ChannelUpdated:
    return ChannelUpdated(phone_number_id=phone_number_id, verified_name=label)


@dataclass
class Scratch:
    """One provisioned scratch service: role + schema migrated, topics prefixed per test."""

    schema: str
    database_url: str
    topic_prefix: str
    bootstrap: str
    tables: ScratchTables
    db: Database
    store: EventStore

    def topic(self, name: str) -> str:
        return self.topic_prefix + name

    def settings(self, **overrides: Any) -> ServiceSettings:
        """Settings of this scratch service, stated explicitly rather than read from the environment."""
        values: dict[str, Any] = {
            "service_name": "kit-scratch", "env": "development", "database_url": self.database_url,
            "database_schema": self.schema, "database_pool_size": 4,
            "kafka_bootstrap_servers": self.bootstrap, "kafka_idempotent_producer": False,
            "kafka_topic_prefix": self.topic_prefix,
            "relay_batch_size": 200, "relay_idle_seconds": 0.05, "consumer_max_attempts": 4,
            "otel_exporter_otlp_endpoint": None, "jwks_url": None, "log_level": "INFO",
        }
        return ServiceSettings(**{**values, **overrides})

    async def count(self, table: Table, *where: Any) -> int:
        async with self.db.unit_of_work() as session:
            query = select(func.count()).select_from(table).where(*where)
            return int((await session.execute(query)).scalar_one())

    async def append(self, phone_number_id: str, label: str, *, internal: bool = False) -> Envelope:
        """Record one event on the channel aggregate ``phone_number_id``, in its own transaction."""
        async with self.db.unit_of_work() as session:
            version = await self.store.version_of(session, "channel", phone_number_id)
            if internal:
                return await self.store.record_internal(
                    session, "scratch.noted", {"label": label}, aggregate_type="channel",
                    aggregate_id=phone_number_id, expected_version=version, tenant_id=None)
            return await self.store.record(
                session, channel_update(phone_number_id, label), aggregate_type="channel",
                aggregate_id=phone_number_id, expected_version=version, tenant_id=None)


def service_database_url(admin_url: str, role: str, password: str) -> str:
    """The asyncpg URL of ``role`` on the admin URL's server and database."""
    url = make_url(admin_url)
    return (f"postgresql+asyncpg://{role}:{password}@{url.host}:{url.port or 5432}/{url.database}"
            "?ssl=disable")


def open_scratch(schema: str, database_url: str, topic_prefix: str, bootstrap: str) -> Scratch:
    tables = scratch_tables(schema)
    db = Database(create_engine(database_url, schema, pool_size=4, application_name="kit-tests"))
    store = EventStore(tables.kit, source="/parley/kit-tests", projector=counting_projector(tables))
    return Scratch(schema=schema, database_url=database_url, topic_prefix=topic_prefix, bootstrap=bootstrap,
                   tables=tables, db=db, store=store)


# -- Kafka, directly through aiokafka --------------------------------------------------------------


async def create_topics(bootstrap: str, names: Sequence[str], partitions: int = 1) -> None:
    """Create ``names`` and wait until the broker's metadata lists every one of them."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="kit-tests-admin")
    await admin.start()
    try:
        try:
            await admin.create_topics([NewTopic(name, partitions, 1) for name in names])
        except TopicAlreadyExistsError:
            pass
        deadline = time.monotonic() + 30
        while not set(names) <= set(await admin.list_topics()):
            if time.monotonic() > deadline:
                raise TimeoutError(f"topics {names} were not created")
            await asyncio.sleep(0.1)
    finally:
        await admin.close()


def new_producer(bootstrap: str) -> AIOKafkaProducer:
    return AIOKafkaProducer(bootstrap_servers=bootstrap, client_id="kit-tests", acks="all",
                            enable_idempotence=False, linger_ms=0)


async def produce(bootstrap: str, topic: str, records: Sequence[tuple[bytes | None, bytes | None,
                                                                      list[tuple[str, bytes]]]],
                  partition: int | None = None) -> list[int]:
    """Publish (key, value, headers) records in order; returns their offsets."""
    producer = new_producer(bootstrap)
    await producer.start()
    try:
        offsets = []
        for key, value, headers in records:
            metadata = await producer.send_and_wait(topic, value=value, key=key, headers=headers,
                                                    partition=partition)
            offsets.append(metadata.offset)
        return offsets
    finally:
        await producer.stop()


def _reader(bootstrap: str) -> AIOKafkaConsumer:
    # No group: reading by assignment costs no group join; "earliest" so nothing before us is missed.
    return AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                            auto_offset_reset="earliest", client_id=f"kit-reader-{uuid.uuid4().hex[:6]}")


async def _remaining(consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> bool:
    for tp, end in ends.items():
        if await consumer.position(tp) < end:
            return True
    return False


async def read_to_end(bootstrap: str, topic: str, within: float = 60) -> list[ConsumerRecord]:
    """Every record on ``topic`` up to the end offsets of now, each partition in its order."""
    consumer = _reader(bootstrap)
    await consumer.start()
    try:
        await consumer.topics()  # refreshes the metadata, so a topic created just now has its partitions
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        assert partitions, f"topic {topic} does not exist"
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        records: list[ConsumerRecord] = []
        deadline = time.monotonic() + within
        while await _remaining(consumer, ends):
            if time.monotonic() > deadline:
                raise TimeoutError(f"could not read {topic} to its end offsets {ends}")
            for batch in (await consumer.getmany(timeout_ms=500)).values():
                records.extend(batch)
        return records
    finally:
        await consumer.stop()


async def read_until(bootstrap: str, topic: str, done: Callable[[list[ConsumerRecord]], bool],
                     within: float = 60) -> list[ConsumerRecord]:
    """Re-read ``topic`` until ``done(records)`` holds; fails after ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        records = await read_to_end(bootstrap, topic)
        if done(records):
            return records
        if time.monotonic() > deadline:
            raise AssertionError(f"{topic} never reached the expected state; it holds {len(records)} records")
        await asyncio.sleep(0.3)


async def committed_offset(bootstrap: str, group: str, topic: str, partition: int = 0) -> int | None:
    """The group's committed offset for one partition (None when it never committed)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="kit-tests-admin")
    await admin.start()
    try:
        # Name the partition: Tansu mis-answers the "all partitions" form of OffsetFetch.
        tp = TopicPartition(topic, partition)
        offsets = await admin.list_consumer_group_offsets(group, partitions=[tp])
    finally:
        await admin.close()
    meta = offsets.get(tp)
    return None if meta is None or meta.offset < 0 else meta.offset


def headers_of(record: ConsumerRecord) -> dict[str, str]:
    return {k: v.decode() for k, v in (record.headers or ())}


async def eventually(check: Callable[[], Awaitable[bool]], what: str, within: float = 60,
                     interval: float = 0.2) -> None:
    """Poll ``check`` until it holds; fail naming ``what`` after a generous deadline."""
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within:.0f}s waiting until {what}")
        await asyncio.sleep(interval)


# -- the scratch service as a separate process ----------------------------------------------------

REPO_ROOT = Path(__file__).resolve().parents[3]


class Worker:
    """One ``kit_worker`` process; its output goes to ``log`` so failures can show it."""

    def __init__(self, scratch: Scratch, log: Path, role: str, faults: str = "", **env: str) -> None:
        self.scratch, self.log, self.role, self.faults, self.env = scratch, log, role, faults, env
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> Worker:
        env = {
            **os.environ, "PARLEY_ENV": "development", "PARLEY_FAULTS": self.faults,
            "KIT_WORKER_ROLE": self.role,
            "KIT_SCHEMA": self.scratch.schema, "KIT_DATABASE_URL": self.scratch.database_url,
            "KIT_TOPIC_PREFIX": self.scratch.topic_prefix, "KIT_KAFKA_BOOTSTRAP": self.scratch.bootstrap,
            "PYTHONUNBUFFERED": "1", **self.env,
        }
        with self.log.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "tests.integration.kit.kit_worker", cwd=REPO_ROOT, env=env,
                stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=asyncio.subprocess.STDOUT)
        return self

    async def exit_code(self, within: float = 120) -> int:
        """Wait for the process to end on its own; its exit code (137 = killed by a crash point)."""
        assert self.process is not None
        try:
            return await asyncio.wait_for(self.process.wait(), within)
        except TimeoutError:
            message = f"{self.role} worker still running after {within:.0f}s\n{self.tail()}"
            raise AssertionError(message) from None

    async def stop(self) -> None:
        """SIGTERM (graceful), then SIGKILL if it lingers."""
        if self.process is None or self.process.returncode is not None:
            return
        self.process.terminate()
        try:
            await asyncio.wait_for(self.process.wait(), 20)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""
