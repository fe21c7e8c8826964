"""Event store: events and projections commit together; writers at the same version conflict."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from parley.kit.eventstore import Append, ConcurrencyError
from tests.integration.kit.kit_harness import Scratch, channel_update, label_of

pytestmark = pytest.mark.integration


class _Boom(Exception):
    pass


async def test_event_and_projection_commit_together(scratch: Scratch) -> None:
    stored = await scratch.append("100200300", "first")

    async with scratch.db.unit_of_work() as session:
        events = (await session.execute(select(scratch.tables.kit.event_store))).mappings().all()
        counter = (await session.execute(select(scratch.tables.counters))).mappings().one()
    assert [(e["event_id"], e["version"], e["topic"], e["partition_key"]) for e in events] == [
        (stored.id, 1, "channel.changed", "100200300")]
    assert events[0]["envelope"]["data"]["verified_name"] == "first"
    assert events[0]["published_at"] is None
    assert (counter["subject"], counter["events"]) == ("channel/100200300", 1)
    assert counter["last_event_id"] == stored.id


async def test_failure_after_append_rolls_back_event_and_projection(scratch: Scratch) -> None:
    with pytest.raises(_Boom):
        async with scratch.db.unit_of_work() as session:
            await scratch.store.record(session, channel_update("100200301", "lost"), aggregate_type="channel",
                                       aggregate_id="100200301", expected_version=0, tenant_id=None)
            raise _Boom("the use case failed after appending")

    assert await scratch.count(scratch.tables.kit.event_store) == 0
    assert await scratch.count(scratch.tables.counters) == 0
    async with scratch.db.unit_of_work() as session:
        assert await scratch.store.version_of(session, "channel", "100200301") == 0


async def test_failing_projector_rolls_back_the_append(scratch: Scratch) -> None:
    async def broken_projector(session, envelope) -> None:  # noqa: ANN001 - Projector signature
        raise _Boom("projection failed")

    store = type(scratch.store)(scratch.tables.kit, source="/parley/kit-tests", projector=broken_projector)
    with pytest.raises(_Boom):
        async with scratch.db.unit_of_work() as session:
            await store.record(session, channel_update("100200302", "x"), aggregate_type="channel",
                               aggregate_id="100200302", expected_version=0, tenant_id=None)
    assert await scratch.count(scratch.tables.kit.event_store) == 0


async def test_concurrent_writers_at_same_version_exactly_one_wins(scratch: Scratch) -> None:
    await scratch.append("100200303", "v1")
    both_read = asyncio.Barrier(2)

    async def write(label: str) -> str:
        async with scratch.db.unit_of_work() as session:
            version = await scratch.store.version_of(session, "channel", "100200303")
            await both_read.wait()
            await scratch.store.record(session, channel_update("100200303", label), aggregate_type="channel",
                                       aggregate_id="100200303", expected_version=version, tenant_id=None)
        return label

    outcomes = await asyncio.gather(write("writer-a"), write("writer-b"), return_exceptions=True)

    conflicts = [o for o in outcomes if isinstance(o, ConcurrencyError)]
    winners = [o for o in outcomes if isinstance(o, str)]
    assert len(conflicts) == 1 and len(winners) == 1, outcomes
    async with scratch.db.unit_of_work() as session:
        assert await scratch.store.version_of(session, "channel", "100200303") == 2
        counter = (await session.execute(select(scratch.tables.counters))).mappings().one()
    assert (counter["events"], counter["last_label"]) == (2, winners[0])


async def test_stale_expected_version_is_refused(scratch: Scratch) -> None:
    await scratch.append("100200304", "v1")
    await scratch.append("100200304", "v2")
    with pytest.raises(ConcurrencyError):
        async with scratch.db.unit_of_work() as session:
            await scratch.store.record(session, channel_update("100200304", "stale"),
                                       aggregate_type="channel", aggregate_id="100200304", expected_version=1,
                                       tenant_id=None)
    async with scratch.db.unit_of_work() as session:
        assert await scratch.store.version_of(session, "channel", "100200304") == 2
        assert await scratch.store.version_of(session, "channel", "never-written") == 0
    assert await scratch.count(scratch.tables.kit.event_store) == 2


async def test_record_new_stores_only_free_versions_and_returns_what_it_stored(scratch: Scratch) -> None:
    await scratch.append("100200305", "already there")

    def first(number: str, label: str) -> Append:
        return Append(channel_update(number, label), "channel", number, 0, None)

    async with scratch.db.unit_of_work() as session:
        stored = await scratch.store.record_new(session, [
            first("100200305", "duplicate of a stored event"),
            first("100200306", "new"),
            first("100200306", "duplicate inside the batch"),
            first("100200307", "also new"),
        ])
    assert [label_of(e) for e in stored] == ["new", "also new"]

    es = scratch.tables.kit.event_store
    async with scratch.db.unit_of_work() as session:
        rows = (await session.execute(select(es.c.aggregate_id, es.c.event_id).order_by(es.c.position))).all()
        counters = dict((await session.execute(select(scratch.tables.counters.c.subject,
                                                      scratch.tables.counters.c.last_label))).all())
    assert [r.aggregate_id for r in rows] == ["100200305", "100200306", "100200307"]
    assert [r.event_id for r in rows[1:]] == [e.id for e in stored], "the returned envelopes are the stored ones"
    assert counters == {"channel/100200305": "already there", "channel/100200306": "new",
                        "channel/100200307": "also new"}, "only stored events are projected"


async def test_record_new_with_nothing_new_stores_nothing_and_keeps_the_transaction_usable(scratch: Scratch) -> None:
    await scratch.append("100200308", "original")
    async with scratch.db.unit_of_work() as session:
        assert await scratch.store.record_new(session, [
            Append(channel_update("100200308", "again"), "channel", "100200308", 0, None)]) == []
        assert await scratch.store.record_new(session, []) == []
        await scratch.store.record(session, channel_update("100200308", "next"), aggregate_type="channel",
                                   aggregate_id="100200308", expected_version=1, tenant_id=None)
    async with scratch.db.unit_of_work() as session:
        assert await scratch.store.version_of(session, "channel", "100200308") == 2
