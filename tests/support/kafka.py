"""Reading what actually reached a topic, for tests."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer


async def collect(bootstrap: str, topic: str, done: Callable[[list[dict[str, Any]]], bool],
                  within: float = 90.0) -> list[dict[str, Any]]:
    """Every record of ``topic`` from the beginning (value JSON + ce_ headers) until ``done`` or the deadline."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=f"test-{uuid.uuid4().hex}",
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    records: list[dict[str, Any]] = []
    deadline = time.monotonic() + within
    try:
        while time.monotonic() < deadline and not done(records):
            batch = await consumer.getmany(timeout_ms=500)
            for messages in batch.values():
                for message in messages:
                    headers = {k: v.decode() for k, v in message.headers or ()}
                    records.append({"headers": headers, "data": json.loads(message.value), "key": message.key})
            await asyncio.sleep(0)
    finally:
        await consumer.stop()
    return records
