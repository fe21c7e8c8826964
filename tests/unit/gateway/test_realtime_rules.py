"""The realtime socket's rules without I/O: who sees what, resume gaps, order and duplicates, slow sockets."""

from __future__ import annotations

import json
import uuid

from parley.gateway.realtime import _offered_token
from parley.gateway.realtime_hub import SLOW_CONSUMER, RealtimeClient, visible_to
from parley.gateway.realtime_streams import StreamEntry, StreamState
from parley.kit.auth import Principal

TENANT = uuid.uuid4()


def principal(role: str) -> Principal:
    return Principal(tenant_id=TENANT, user_id=uuid.uuid4(), role=role)


def entry(entry_id: str, *, conversation: str | None = "c-1", assignee: str | None = "", team: str | None = "",
          topic: str = "conversation.changed") -> StreamEntry:
    frame = json.dumps({"type": "conversation.updated", "time": "2026-01-01T00:00:00Z", "subject": None,
                        "data": {"n": entry_id}})
    return StreamEntry(entry_id, frame, topic, conversation, assignee if conversation else None, team)


def test_owners_admins_and_managers_see_every_event_of_their_tenant() -> None:
    for role in ("owner", "admin", "manager"):
        assert visible_to(principal(role), entry("1-0", assignee=str(uuid.uuid4())))
        assert visible_to(principal(role), entry("1-0", assignee=None))


def test_an_agent_sees_their_conversations_and_the_unassigned_pool_only() -> None:
    agent = principal("agent")
    assert visible_to(agent, entry("1-0", assignee=str(agent.user_id)))
    assert visible_to(agent, entry("1-0", assignee=""))
    assert not visible_to(agent, entry("1-0", assignee=str(uuid.uuid4())))
    assert not visible_to(agent, entry("1-0", assignee="", team=str(uuid.uuid4())))
    assert not visible_to(agent, entry("1-0", assignee=None)), "unknown assignment is not pushed to agents"
    assert visible_to(agent, entry("1-0", conversation=None, topic="pipeline.changed"))
    assert not visible_to(agent, entry("1-0", conversation=None, topic="contact.changed"))
    assert not visible_to(principal("intern"), entry("1-0", assignee=str(uuid.uuid4()))), "unknown roles: agent view"


def test_resume_gaps() -> None:
    kept = StreamState(last_id="500-0", first_id="100-0", trimmed=True, exists=True)
    assert kept.gap_after("100-0") is None
    assert kept.gap_after("499-3") is None
    assert "horizon" in kept.gap_after("99-0")
    assert "not one of this tenant" in kept.gap_after("500-1")
    untrimmed = StreamState(last_id="500-0", first_id="100-0", trimmed=False, exists=True)
    assert untrimmed.gap_after("1-0") is None, "nothing was ever trimmed: nothing can be missing"
    gone = StreamState(last_id="0-0", first_id=None, trimmed=False, exists=False)
    assert gone.gap_after("0-0") is None
    assert gone.gap_after("42-0") is not None


def test_frames_carry_their_stream_id() -> None:
    frame = json.loads(entry("1700000000000-3").text())
    assert frame == {"id": "1700000000000-3", "type": "conversation.updated", "time": "2026-01-01T00:00:00Z",
                     "subject": None, "data": {"n": "1700000000000-3"}}


async def test_missed_entries_come_before_live_ones_without_duplicates() -> None:
    client = RealtimeClient(principal("owner"), "1-0", queue_size=10)
    client.offer(entry("4-0"))  # live, while the client is still catching up
    client.offer(entry("3-0"))  # the same event the catch-up read returns
    client.caught_up([entry("2-0"), entry("3-0")])
    client.offer(entry("4-0"))  # delivered again by the hub: a duplicate
    client.offer(entry("5-0"))
    queued = [json.loads(client.queue.get_nowait())["id"] for _ in range(client.queue.qsize())]
    assert [json.loads(text)["id"] for text in client.backlog] == ["2-0", "3-0"]
    assert queued == ["4-0", "5-0"]
    assert client.last_id == "5-0"


async def test_a_socket_whose_queue_fills_is_dropped_as_slow() -> None:
    client = RealtimeClient(principal("owner"), "0-0", queue_size=2)
    client.caught_up([])
    for index in range(1, 4):
        client.offer(entry(f"{index}-0"))
    assert client.dropped.is_set() and client.drop_reason == SLOW_CONSUMER


def test_the_token_comes_from_the_query_or_the_bearer_subprotocol() -> None:
    assert _offered_token("abc", []) == ("abc", None)
    assert _offered_token(None, ["bearer", "tok"]) == ("tok", "bearer")
    assert _offered_token(None, ["bearer"]) == (None, "bearer")
    assert _offered_token(None, ["graphql-ws"]) == (None, None)
