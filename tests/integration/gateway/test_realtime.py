"""WS /v1/realtime on real gateway processes, Valkey and the broker: auth, tenant and role scoping, resume,
heartbeats, slow clients and several replicas."""

from __future__ import annotations

import asyncio
import secrets
import socket as stdlib_socket
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import pytest
from aiokafka import AIOKafkaProducer

from parley.contracts import Envelope
from parley.contracts.binding import to_record
from parley.contracts.events.conversations import ConversationMessageAdded
from parley.devstack.stack import Platform
from parley.gateway.tokens import TokenIssuer
from tests.integration.gateway.realtime_harness import (
    Conversations,
    Reader,
    Replica,
    close_reason,
    expired_token,
    member,
    settled,
    signing_issuer,
    socket,
    start_replica,
    stop_replica,
)

pytestmark = pytest.mark.integration

SEND_QUEUE = 16


@pytest.fixture(scope="module")
def replicas(platform: Platform) -> Iterator[tuple[Replica, Replica]]:
    """Two gateway replicas sharing the fan-in consumer group, each with its own sockets."""
    settings = {"realtime_heartbeat_seconds": "1", "realtime_send_queue": str(SEND_QUEUE)}
    first = start_replica(platform, "gateway-realtime-1", **settings)
    try:
        second = start_replica(platform, "gateway-realtime-2", **settings)
    except BaseException:
        stop_replica(first)
        raise
    yield first, second
    stop_replica(first)
    stop_replica(second)


@pytest.fixture(scope="module")
def replica(replicas: tuple[Replica, Replica]) -> Replica:
    return replicas[0]


@pytest.fixture(scope="module")
def issuer(platform: Platform) -> TokenIssuer:
    return signing_issuer(platform)


@pytest.fixture(scope="module")
async def conversations(platform: Platform, topic_prefix: str) -> AsyncIterator[Conversations]:
    producer = AIOKafkaProducer(bootstrap_servers=platform.infra.kafka_bootstrap, acks="all")
    await producer.start()
    yield Conversations(producer, f"{topic_prefix}conversation.changed")
    await producer.stop()


async def test_sockets_without_a_valid_token_are_closed_with_the_reason(replica: Replica,
                                                                       issuer: TokenIssuer) -> None:
    cases = {None: "missing_token", "not.a.token": "invalid_token", expired_token(issuer): "token_expired"}
    for token, code in cases.items():
        async with socket(replica, token) as ws:
            closed = await close_reason(ws)
        assert closed[0] == 4401 and closed[1].startswith(code), (token, closed)


async def test_the_token_may_come_as_the_bearer_subprotocol(replica: Replica, issuer: TokenIssuer) -> None:
    async with socket(replica, member(issuer).token, protocol_token=True) as ws:
        assert ws.subprotocol == "bearer"
        assert (await Reader(ws).connected())["last_event_id"] == "0-0"


async def test_a_token_signed_with_another_key_is_refused(replica: Replica) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    stranger = TokenIssuer(Ed25519PrivateKey.generate(), ttl_seconds=900)
    async with socket(replica, member(stranger).token) as ws:
        code, reason = await close_reason(ws)
    assert code == 4401 and reason.startswith("invalid_token")


async def test_a_tenant_never_sees_another_tenants_events(replica: Replica, issuer: TokenIssuer,
                                                          conversations: Conversations) -> None:
    alice, bob = member(issuer), member(issuer)
    async with socket(replica, alice.token) as ws_a, socket(replica, bob.token, protocol_token=True) as ws_b:
        reader_a, reader_b = Reader(ws_a), Reader(ws_b)
        await reader_a.connected()
        await reader_b.connected()
        secret = f"for alice only {uuid.uuid4()}"
        await conversations.message(alice.tenant_id, uuid.uuid4(), secret)
        await reader_a.until(lambda r: r.has_text(secret))
        for_bob = f"for bob {uuid.uuid4()}"
        await conversations.message(bob.tenant_id, uuid.uuid4(), for_bob)
        await reader_b.until(lambda r: r.has_text(for_bob))

    assert reader_b.texts() == [for_bob]
    [frame] = [e for e in reader_a.events if e["data"].get("text") == secret]
    assert set(frame) == {"id", "type", "time", "subject", "data"}
    assert frame["type"] == "conversation.message-added"


async def test_an_agent_gets_only_their_and_unassigned_conversations(replica: Replica, issuer: TokenIssuer,
                                                                      conversations: Conversations) -> None:
    owner = member(issuer, "owner")
    agent = member(issuer, "agent", owner.tenant_id)
    unassigned, theirs, someone_elses = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    async with socket(replica, owner.token) as ws_owner, socket(replica, agent.token) as ws_agent:
        owner_view, agent_view = Reader(ws_owner), Reader(ws_agent)
        await owner_view.connected()
        await agent_view.connected()
        # One customer (one partition key), so the events arrive in the order published.
        for conversation in (unassigned, theirs, someone_elses):
            await conversations.opened(owner.tenant_id, conversation)
        await conversations.assigned(owner.tenant_id, theirs, agent.user_id)
        await conversations.assigned(owner.tenant_id, someone_elses, uuid.uuid4())
        for conversation, text in ((someone_elses, "private"), (theirs, "mine"), (unassigned, "pool")):
            await conversations.message(owner.tenant_id, conversation, text)
        await owner_view.until(lambda r: r.has_text("pool"))
        await agent_view.until(lambda r: r.has_text("pool"))

    assert owner_view.texts() == ["private", "mine", "pool"]
    assert agent_view.texts() == ["mine", "pool"]
    # It was in the pool when it opened; nothing after it was assigned to someone else.
    assert [e["type"] for e in agent_view.events if e["data"]["conversation_id"] == str(someone_elses)] == [
        "conversation.opened"]


async def test_a_client_that_reconnects_gets_exactly_what_it_missed(replicas: tuple[Replica, Replica],
                                                                    issuer: TokenIssuer,
                                                                    conversations: Conversations) -> None:
    first, second = replicas
    owner = member(issuer)
    conversation = uuid.uuid4()
    async with socket(first, owner.token) as observer_ws:
        observer = Reader(observer_ws)
        await observer.connected()
        async with socket(first, owner.token) as ws:
            client = Reader(ws)
            await client.connected()
            await conversations.message(owner.tenant_id, conversation, "one")
            await client.until(lambda r: r.has_text("one"))
        last_seen = client.events[-1]["id"]
        for text in ("two", "three"):
            await conversations.message(owner.tenant_id, conversation, text)
        await observer.until(lambda r: r.has_text("three"))

        # Resume on the other replica: ids are the tenant stream's, the same everywhere.
        async with socket(second, owner.token, last_event_id=last_seen) as ws:
            resumed = Reader(ws)
            connected = await resumed.connected()
            await conversations.message(owner.tenant_id, conversation, "four")
            await resumed.until(lambda r: r.has_text("four"))
        await observer.until(lambda r: r.has_text("four"))

    assert connected["last_event_id"] == last_seen
    assert resumed.texts() == ["two", "three", "four"]
    ids = [e["id"] for e in resumed.events]
    assert ids == [e["id"] for e in observer.events if e["data"].get("text") in {"two", "three", "four"}]
    assert len(set(ids)) == len(ids)
    assert not any(c["type"] == "realtime.resync" for c in resumed.controls)


async def test_resuming_from_an_unknown_position_says_resync(replica: Replica, issuer: TokenIssuer,
                                                             conversations: Conversations) -> None:
    owner = member(issuer)
    async with socket(replica, owner.token, last_event_id="99999999999999-0") as ws:
        reader = Reader(ws)
        await reader.connected()
        await conversations.message(owner.tenant_id, uuid.uuid4(), "after resync")
        await reader.until(lambda r: r.has_text("after resync"))
    resync, connected = reader.controls[0], reader.controls[1]
    assert resync["type"] == "realtime.resync" and resync["reason"]
    assert connected["type"] == "realtime.connected"

    async with socket(replica, owner.token, last_event_id="yesterday") as ws:
        code, reason = await close_reason(ws)
    assert code == 4400 and reason.startswith("invalid_last_event_id")


async def test_two_replicas_each_deliver_to_their_own_sockets(replicas: tuple[Replica, Replica],
                                                             issuer: TokenIssuer,
                                                             conversations: Conversations) -> None:
    first, second = replicas
    owner = member(issuer)
    async with socket(first, owner.token) as ws_1, socket(second, owner.token) as ws_2:
        on_first, on_second = Reader(ws_1), Reader(ws_2)
        await on_first.connected()
        await on_second.connected()
        for index in range(5):
            await conversations.message(owner.tenant_id, uuid.uuid4(), f"m{index}", wa_id=f"55119{index:08d}")
        await on_first.until(lambda r: len(r.events) >= 5)
        await on_second.until(lambda r: len(r.events) >= 5)
        await asyncio.sleep(1)  # room for a duplicate to show up, if there were one
        await on_first.until(lambda r: len(r.controls) >= 2)

    assert sorted(on_first.texts()) == [f"m{i}" for i in range(5)]
    assert [e["id"] for e in on_first.events] == [e["id"] for e in on_second.events]


async def test_heartbeats_arrive_on_an_idle_socket(replica: Replica, issuer: TokenIssuer) -> None:
    async with socket(replica, member(issuer).token) as ws:
        reader = await Reader(ws).until(lambda r: any(c["type"] == "heartbeat" for c in r.controls), within=30)
    assert reader.events == []


async def test_connections_are_counted_on_metrics(replicas: tuple[Replica, Replica], issuer: TokenIssuer) -> None:
    replica = replicas[1]
    before = replica.metric("parley_gateway_realtime_connections")
    async with socket(replica, member(issuer).token) as ws_1, socket(replica, member(issuer).token) as ws_2:
        await Reader(ws_1).connected()
        await Reader(ws_2).connected()
        await settled(lambda: replica.metric("parley_gateway_realtime_connections") == before + 2, "2 more sockets")
    await settled(lambda: replica.metric("parley_gateway_realtime_connections") == before, "sockets closed")


def _unread_socket(replica: Replica) -> stdlib_socket.socket:
    """A TCP socket with a tiny receive buffer: the client that stops reading."""
    host, port = replica.url.removeprefix("http://").split(":")
    sock = stdlib_socket.socket()
    sock.setsockopt(stdlib_socket.SOL_SOCKET, stdlib_socket.SO_RCVBUF, 4096)
    sock.connect((host, int(port)))
    return sock


async def test_a_slow_client_is_dropped_while_a_fast_one_keeps_receiving(replica: Replica, issuer: TokenIssuer,
                                                                        conversations: Conversations) -> None:
    owner = member(issuer)
    dropped_before = replica.metric("parley_gateway_realtime_clients_dropped_total", 'reason="slow_consumer"')
    count, filler = 200, secrets.token_urlsafe(45_000)  # ~60 KB that compression cannot shrink
    async with socket(replica, owner.token) as fast_ws, \
            socket(replica, owner.token, sock=_unread_socket(replica), max_queue=1) as slow_ws:
        fast, slow = Reader(fast_ws), Reader(slow_ws)
        await fast.connected()
        await slow.connected()
        reading = asyncio.create_task(fast.until(lambda r: r.has_text(f"{count - 1}:{filler}"), within=180))
        for index in range(count):
            await conversations.message(owner.tenant_id, uuid.uuid4(), f"{index}:{filler}")
        await reading
        await settled(lambda: replica.metric("parley_gateway_realtime_clients_dropped_total",
                                             'reason="slow_consumer"') == dropped_before + 1, "the slow client dropped")
        code, _ = await close_reason(slow_ws, within=60)

    assert len(fast.events) == count
    assert len(slow.events) < count
    assert code in {4008, 1006, None}


async def test_a_burst_of_two_tenants_arrives_in_order_and_once(replica: Replica, issuer: TokenIssuer,
                                                               conversations: Conversations) -> None:
    """Events fetched together are appended together (one Valkey round trip per tenant): each socket still gets
    its own tenant's events in the order published, and an event published twice only once."""
    alice, bob = member(issuer), member(issuer)
    burst: list[tuple[uuid.UUID, Envelope]] = []
    for index in range(60):
        tenant = alice.tenant_id if index % 2 == 0 else bob.tenant_id
        burst.append((tenant, Envelope.wrap(ConversationMessageAdded(
            conversation_id=uuid.uuid4(), message_id=uuid.uuid4(), wa_id="5511988887777", direction="inbound",
            type="text", text=f"burst {index}", sent_at=datetime.now(UTC)),
            source="/parley/conversation", tenant_id=tenant)))
    async with socket(replica, alice.token) as ws_a, socket(replica, bob.token) as ws_b:
        reader_a, reader_b = Reader(ws_a), Reader(ws_b)
        await reader_a.connected()
        await reader_b.connected()
        sent = [await conversations.producer.send(conversations.topic, value=value, key=key, headers=headers)
                for key, value, headers in (to_record(envelope) for _, envelope in burst + burst[:10])]
        await asyncio.gather(*sent)
        await reader_a.until(lambda r: r.has_text("burst 58"))
        await reader_b.until(lambda r: r.has_text("burst 59"))
        await asyncio.sleep(1)  # room for a duplicate to show up, if there were one
        await reader_a.until(lambda r: len(r.controls) >= 2)

    assert reader_a.texts() == [f"burst {i}" for i in range(0, 60, 2)]
    assert reader_b.texts() == [f"burst {i}" for i in range(1, 60, 2)]
