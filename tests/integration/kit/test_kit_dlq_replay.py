"""Dead letters go back to their topic exactly once per replay run, stripped of the DLQ headers."""

from __future__ import annotations

import uuid

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from parley.devstack.stack import Platform
from parley.kit import dlq
from tests.support.kafka import collect

pytestmark = pytest.mark.integration


async def test_replay_sends_letters_home_once(platform: Platform) -> None:
    bootstrap = platform.infra.kafka_bootstrap
    topic = f"dlqtest-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    await admin.create_topics([NewTopic(topic, 1, 1), NewTopic(f"{topic}.dlq", 1, 1)])
    await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    for n in range(3):
        await producer.send_and_wait(f"{topic}.dlq", value=f'{{"n":{n}}}'.encode(), key=b"k", headers=[
            ("ce_id", str(uuid.uuid4()).encode()), ("ce_type", b"message.received"),
            ("x-dlq-reason", b"poison"), ("x-dlq-error", b"ValidationError: boom"),
            ("x-dlq-original-topic", topic.encode())])
    await producer.stop()

    listed = await dlq.dead_letters(bootstrap, f"{topic}.dlq", group=None)
    assert [(d.reason, d.original_topic, d.event_type) for d in listed] == [("poison", topic, "message.received")] * 3

    assert await dlq.replay(bootstrap, f"{topic}.dlq") == 3
    assert await dlq.replay(bootstrap, f"{topic}.dlq") == 0, "a second run replays nothing twice"
    home = await collect(bootstrap, topic, lambda rs: len(rs) >= 3, within=30)
    assert [r["data"]["n"] for r in home] == [0, 1, 2]
    assert all(not any(h.startswith("x-dlq-") for h in r["headers"]) for r in home)
    assert all(r["headers"]["ce_type"] == "message.received" for r in home)
