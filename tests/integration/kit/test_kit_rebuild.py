"""Rebuild: replaying the event store into emptied projections reproduces the same state."""

from __future__ import annotations

from uuid import uuid4

import pytest
from sqlalchemy import delete, select, update

from parley.kit.service import Service, ServiceDefinition
from tests.integration.kit.kit_harness import SCRATCH_MIGRATIONS, Scratch

pytestmark = pytest.mark.integration


async def _projection(scratch: Scratch) -> list[tuple]:
    counters = scratch.tables.counters
    async with scratch.db.unit_of_work() as session:
        rows = (await session.execute(select(counters).order_by(counters.c.subject))).all()
    return [tuple(row) for row in rows]


async def test_rebuild_reproduces_the_projections_after_they_were_damaged(scratch: Scratch) -> None:
    keys = [f"10000000000005{n}" for n in range(5)]
    for n in range(12):
        for i, key in enumerate(keys):
            if (n + i) % 3 == 0:
                await scratch.append(key, f"note-{n}", internal=True)
            else:
                await scratch.append(key, f"{key}-{n}")
    before = await _projection(scratch)
    assert len(before) == 5 and sum(row[1] for row in before) == 60

    counters = scratch.tables.counters
    async with scratch.db.unit_of_work() as session:
        await session.execute(update(counters).where(counters.c.subject == f"channel/{keys[0]}")
                              .values(events=999, last_label="tampered"))
        await session.execute(delete(counters).where(counters.c.subject == f"channel/{keys[1]}"))
        await session.execute(counters.insert().values(subject="channel/ghost", events=1,
                                                       last_event_id=before[0][2], last_label="ghost"))
    assert await _projection(scratch) != before

    service = Service(ServiceDefinition(
        name="kit-rebuild", settings=scratch.settings(), metadata=scratch.tables.metadata,
        store=scratch.store, migrations_dir=SCRATCH_MIGRATIONS, projection_tables=[counters],
    ))
    try:
        replayed = await service.rebuild()
    finally:
        await service.db.dispose()

    assert replayed == 60
    assert await _projection(scratch) == before

    # Replaying in small pages (page boundaries inside one aggregate) gives the same state too.
    async with scratch.db.unit_of_work() as session:
        await session.execute(delete(counters))
        assert await scratch.store.rebuild(session, [counters], batch=7) == 60
    assert await _projection(scratch) == before


async def test_rebuild_of_an_empty_store_empties_the_projections(scratch: Scratch) -> None:
    counters = scratch.tables.counters
    async with scratch.db.unit_of_work() as session:
        await session.execute(counters.insert().values(subject="channel/orphan", events=3,
                                                       last_event_id=uuid4()))
        assert await scratch.store.rebuild(session, [counters]) == 0
    assert await _projection(scratch) == []
