"""One gateway replica's realtime sockets and the one loop that feeds them from the tenant streams.

The hub reads the streams of the tenants its sockets belong to with one blocking XREAD and offers
each entry to those sockets without ever waiting for one: every socket has a bounded queue, and a
socket whose queue is full is dropped as slow, so a slow client never delays the others.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis

from parley.gateway.realtime_streams import StreamEntry, TenantStreams, parse_id
from parley.kit.auth import Principal
from parley.kit.telemetry import get_logger

log = get_logger(__name__)

#: Roles that receive every event of their tenant; any other role gets the agent's view.
TENANT_WIDE_ROLES = frozenset({"owner", "admin", "manager"})
#: Topics whose events (not about one conversation) agents receive too: the shared kanban.
AGENT_TOPICS = frozenset({"pipeline.changed"})
SLOW_CONSUMER = "slow_consumer"


def visible_to(principal: Principal, entry: StreamEntry) -> bool:
    """Owners, admins and managers see their tenant's events. An agent sees a conversation's events when it
    is assigned to them, or unassigned and in no team (team membership lives in the conversation service,
    so team-assigned conversations go to their assignee only); of other events, only the pipeline's."""
    if principal.role in TENANT_WIDE_ROLES:
        return True
    if entry.conversation_id is None:
        return entry.topic in AGENT_TOPICS
    if entry.assignee == str(principal.user_id):
        return True
    return entry.assignee == "" and not entry.team


@dataclass(eq=False)
class RealtimeClient:
    """One socket's view: who it is, the last event id it was given, and its bounded queue of frames."""

    principal: Principal
    last_id: str
    queue_size: int
    claims: dict[str, Any] = field(default_factory=dict)  # the token's: revocations are matched against them
    queue: asyncio.Queue[str] = field(init=False)
    backlog: list[str] = field(default_factory=list)
    dropped: asyncio.Event = field(default_factory=asyncio.Event)
    drop_reason: str = ""
    _position: tuple[int, int] = (0, 0)
    _stash: list[StreamEntry] | None = field(default_factory=list)  # live entries held while catching up

    def __post_init__(self) -> None:
        self.queue = asyncio.Queue(self.queue_size)
        self._position = parse_id(self.last_id)

    @property
    def tenant(self) -> str:
        return str(self.principal.tenant_id)

    def offer(self, entry: StreamEntry) -> None:
        """A live entry from the hub; never waits."""
        if self._stash is not None:
            self._stash.append(entry)
            if len(self._stash) > self.queue_size:
                self.drop(SLOW_CONSUMER)
            return
        self._enqueue(entry)

    def caught_up(self, missed: list[StreamEntry]) -> None:
        """The entries missed before joining (sent first), then the live ones that arrived meanwhile."""
        for entry in missed:
            if self._advance(entry):
                self.backlog.append(entry.text())
        stash, self._stash = self._stash or [], None
        for entry in stash:
            self._enqueue(entry)

    def push_control(self, text: str) -> None:
        """A frame that is not an event (heartbeat); it counts against the queue like any other."""
        try:
            self.queue.put_nowait(text)
        except asyncio.QueueFull:
            self.drop(SLOW_CONSUMER)

    def drop(self, reason: str) -> None:
        if not self.dropped.is_set():
            self.drop_reason = reason
            self.dropped.set()

    def _advance(self, entry: StreamEntry) -> bool:
        """Whether ``entry`` is new for this socket (ids only grow) and it may see it."""
        position = entry.position
        if position <= self._position:
            return False
        self._position, self.last_id = position, entry.id
        return visible_to(self.principal, entry)

    def _enqueue(self, entry: StreamEntry) -> None:
        if self._advance(entry):
            self.push_control(entry.text())


@dataclass(eq=False)
class _Feed:
    cursor: str
    clients: set[RealtimeClient] = field(default_factory=set)


class RealtimeHub:
    """Registry of this replica's sockets by tenant, and the reader loop that feeds them."""

    def __init__(self, streams: TenantStreams, reader: Redis, *, block_ms: int = 5_000, batch: int = 500) -> None:
        self.streams = streams
        self.reader = reader  # blocking reads hold a connection: its own client, apart from the streams'
        self.block_ms = block_ms
        self.batch = batch
        self._feeds: dict[str, _Feed] = {}
        self._wake_key = f"{streams.prefix}wake:{uuid.uuid4()}"
        self._wake_cursor = "0-0"
        self._has_feeds = asyncio.Event()

    def sockets(self) -> list[RealtimeClient]:
        return [client for feed in self._feeds.values() for client in feed.clients]

    @property
    def connections(self) -> int:
        return sum(len(feed.clients) for feed in self._feeds.values())

    async def join(self, client: RealtimeClient, tip: str) -> None:
        """Register ``client`` and queue what it missed after ``client.last_id`` (the caller checked the gap);
        ``tip`` is the stream's newest id, where the hub starts reading a tenant it did not read yet."""
        feed = self._feeds.get(client.tenant)
        if feed is None:
            feed = self._feeds[client.tenant] = _Feed(cursor=tip)
            await self._wake()
        feed.clients.add(client)
        up_to = feed.cursor  # everything after it reaches the client live, through offer()
        missed = await self.streams.entries_between(client.tenant, client.last_id, up_to) \
            if parse_id(client.last_id) < parse_id(up_to) else []
        client.caught_up(missed)

    def leave(self, client: RealtimeClient) -> None:
        feed = self._feeds.get(client.tenant)
        if feed is None:
            return
        feed.clients.discard(client)
        if not feed.clients:
            del self._feeds[client.tenant]

    async def close(self) -> None:
        await self.reader.delete(self._wake_key)

    async def _wake(self) -> None:
        """Make the blocked XREAD return so its next call includes a newly joined tenant."""
        self._has_feeds.set()
        await self.streams.redis.xadd(self._wake_key, {"w": "1"}, maxlen=10)
        await self.streams.redis.pexpire(self._wake_key, 60_000)

    async def run(self) -> None:
        """Read and fan out until cancelled; errors are logged and retried."""
        failures = 0
        while True:
            try:
                await self.read_once()
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the hub outlives a Valkey outage
                failures += 1
                log.warning("realtime hub read failed; retrying", error=f"{type(exc).__name__}: {exc}",
                            attempt=failures)
                await asyncio.sleep(min(0.2 * 2 ** failures, 5.0))

    async def read_once(self) -> None:
        if not self._feeds:
            self._has_feeds.clear()
            await self._has_feeds.wait()
        cursors = {self.streams.stream_key(tenant): feed.cursor for tenant, feed in self._feeds.items()}
        cursors[self._wake_key] = self._wake_cursor
        for key, entries in await self.reader.xread(cursors, count=self.batch, block=self.block_ms) or []:
            if key == self._wake_key:
                self._wake_cursor = entries[-1][0]
                continue
            self._fan_out(self.streams.tenant_of(key), [StreamEntry.from_fields(i, f) for i, f in entries])

    def _fan_out(self, tenant: str, entries: list[StreamEntry]) -> None:
        feed = self._feeds.get(tenant)
        if feed is None or not entries:
            return
        if entries[-1].position > parse_id(feed.cursor):
            feed.cursor = entries[-1].id
        for client in list(feed.clients):
            for entry in entries:
                client.offer(entry)
