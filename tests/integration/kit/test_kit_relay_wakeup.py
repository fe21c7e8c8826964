"""The relay wakes on an append's NOTIFY: an event leaves without waiting for the relay's next poll."""

from __future__ import annotations

import asyncio
from contextlib import suppress

import pytest

from parley.kit.relay import OutboxRelay
from tests.integration.kit.kit_harness import PUBLIC_TOPIC, Scratch, create_topics, headers_of, new_producer, read_until

pytestmark = pytest.mark.integration


async def test_an_appended_event_is_published_without_waiting_for_the_poll(scratch: Scratch) -> None:
    topic = scratch.topic(PUBLIC_TOPIC)
    await create_topics(scratch.bootstrap, [topic])
    producer = new_producer(scratch.bootstrap)
    await producer.start()
    # Polling once an hour: only the NOTIFY of each append can make these events leave during the test.
    relay = OutboxRelay(scratch.db, scratch.tables.kit, producer, idle_seconds=3600, topic_prefix=scratch.topic_prefix)
    running = asyncio.create_task(relay.run())
    try:
        await asyncio.sleep(1)  # the relay found the outbox empty and waits; its LISTEN is in place
        first = await scratch.append("100000000000021", "woken-1")
        await read_until(scratch.bootstrap, topic, lambda rs: {headers_of(r)["ce_id"] for r in rs} >= {str(first.id)})
        second = await scratch.append("100000000000021", "woken-2")
        records = await read_until(scratch.bootstrap, topic,
                                   lambda rs: {headers_of(r)["ce_id"] for r in rs} >= {str(second.id)})
    finally:
        running.cancel()
        with suppress(asyncio.CancelledError):
            await running
        await producer.stop()

    assert [headers_of(r)["ce_id"] for r in records] == [str(first.id), str(second.id)]
