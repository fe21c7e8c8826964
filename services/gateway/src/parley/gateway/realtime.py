"""``WS /v1/realtime``: a tenant's conversation, pipeline and contact changes pushed as they happen.

Authentication: an access token as ``?access_token=`` or in ``Sec-WebSocket-Protocol: bearer, <token>``
(the server answers with the ``bearer`` subprotocol). Every frame is JSON. Event frames are
``{"id", "type", "time", "subject", "data"}`` where ``id`` is the event's position in the tenant's
stream; ``?last_event_id=<id>`` resumes right after it. Control frames have no ``id``:
``realtime.connected`` (with the ``last_event_id`` the socket starts after), ``realtime.resync`` (the
requested id is beyond the resume horizon: reload, then continue from the given id) and ``heartbeat``.

Close codes: 4400 bad request (``last_event_id``), 4401 missing, invalid or expired token (also when the
token expires on an open socket: reconnect with a fresh one and the last id), 4008 slow consumer,
1001 the gateway is shutting down.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, WebSocket
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from parley.contracts import Envelope
from parley.contracts.registry import TOPICS
from parley.gateway import realtime_metrics as metrics
from parley.gateway.realtime_hub import SLOW_CONSUMER, RealtimeClient, RealtimeHub
from parley.gateway.realtime_streams import TenantStreams, parse_id
from parley.gateway.revocation_watch import TENANT_SUSPENDED, TOKEN_REVOKED
from parley.gateway.runtime import GatewayRuntime
from parley.gateway.settings import GatewaySettings
from parley.kit.auth import Principal
from parley.kit.consumer import Subscription
from parley.kit.errors import DomainError, Unauthorized
from parley.kit.service import Service
from parley.kit.telemetry import get_logger

router = APIRouter(tags=["realtime"])
log = get_logger(__name__)

BEARER_PROTOCOL = "bearer"
CLOSE_BAD_REQUEST, CLOSE_UNAUTHORIZED, CLOSE_FORBIDDEN, CLOSE_SLOW = 4400, 4401, 4403, 4008
TOKEN_EXPIRED = "token_expired"
HUB_BLOCK_MS = 5_000
_CLOSE_CODES = {SLOW_CONSUMER: CLOSE_SLOW, TOKEN_EXPIRED: CLOSE_UNAUTHORIZED, TOKEN_REVOKED: CLOSE_UNAUTHORIZED,
                TENANT_SUSPENDED: CLOSE_FORBIDDEN}
_CLOSE_REASONS = {SLOW_CONSUMER: "slow_consumer: frames were not read fast enough",
                  TOKEN_EXPIRED: "token_expired: the access token has expired",
                  TOKEN_REVOKED: "token_revoked: the session was logged out or the user removed",
                  TENANT_SUSPENDED: "tenant_suspended: this tenant is suspended"}


class RedactAccessTokens(logging.Filter):
    """uvicorn logs each WebSocket's path with its query string: keep ``?access_token=`` out of the logs."""

    _TOKEN = re.compile(r"(access_token=)[^&\s\"]+")

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(self._TOKEN.sub(r"\1[redacted]", a) if isinstance(a, str) else a
                                for a in record.args)
        return True


@dataclass
class RealtimeRuntime:
    """The realtime parts of one gateway replica: the tenant streams, the hub and their settings."""

    streams: TenantStreams
    hub: RealtimeHub
    heartbeat_seconds: float
    send_queue: int
    topics: tuple[str, ...]
    _clients: list[Redis] = field(default_factory=list)

    @classmethod
    def from_settings(cls, settings: GatewaySettings) -> RealtimeRuntime:
        uvicorn_log = logging.getLogger("uvicorn.error")
        if not any(isinstance(f, RedactAccessTokens) for f in uvicorn_log.filters):
            uvicorn_log.addFilter(RedactAccessTokens())
        writer = Redis.from_url(settings.redis_url, decode_responses=True)
        # The hub blocks in XREAD for up to HUB_BLOCK_MS: its socket timeout must be longer.
        reader = Redis.from_url(settings.redis_url, decode_responses=True, socket_timeout=HUB_BLOCK_MS / 1000 + 10)
        streams = TenantStreams(writer, prefix=f"parley:{settings.kafka_topic_prefix}realtime:",
                                horizon_seconds=settings.realtime_horizon_seconds,
                                max_len=settings.realtime_stream_max_len)
        topics = tuple(t for t in settings.realtime_topics if t in TOPICS)
        # A read never hands a socket more entries than its queue holds, so a burst alone drops nobody.
        hub = RealtimeHub(streams, reader, block_ms=HUB_BLOCK_MS, batch=min(500, settings.realtime_send_queue))
        return cls(streams, hub, settings.realtime_heartbeat_seconds, settings.realtime_send_queue, topics,
                   [writer, reader])

    def subscriptions(self) -> tuple[Subscription, ...]:
        """The fan-in consumer: one group for every replica, so each event is appended once."""
        if not self.topics:
            return ()
        return (Subscription("gateway.realtime", self.topics, batch_handler=self._append),)

    async def _append(self, _: AsyncSession, envelopes: list[Envelope]) -> None:
        """A fetch's events of one tenant, appended in offset order with one Valkey round trip."""
        await self.streams.append_many(envelopes)

    async def run_hub(self, _: Service) -> None:
        await self.hub.run()

    async def close(self, _: Service) -> None:
        with suppress(Exception):
            await self.hub.close()
        for client in self._clients:
            await client.aclose()


def _offered_token(access_token: str | None, protocols: list[str]) -> tuple[str | None, str | None]:
    """(token, subprotocol to answer with): the query parameter, or ``bearer, <token>`` as subprotocols."""
    if BEARER_PROTOCOL in protocols:
        index = protocols.index(BEARER_PROTOCOL)
        token = protocols[index + 1] if index + 1 < len(protocols) else None
        return access_token or token, BEARER_PROTOCOL
    return access_token, None


async def _authenticate(gateway: GatewayRuntime, token: str | None) -> tuple[Principal, dict[str, Any]]:
    """The token's principal and claims; Unauthorized when invalid or revoked, Forbidden when its tenant is
    suspended (both from the revocations in Valkey, as every service checks them)."""
    if not token:
        raise Unauthorized("an access token is required (?access_token= or the bearer subprotocol)",
                           code="missing_token")
    claims = gateway.issuer.claims(token)
    await gateway.revocation_check.check(claims)
    return gateway.issuer.principal(claims), claims


def _control(frame_type: str, **fields: Any) -> str:
    return json.dumps({"type": frame_type, "time": datetime.now(UTC).isoformat(), **fields})


async def _close(websocket: WebSocket, code: int, reason: str) -> None:
    with suppress(Exception):
        await asyncio.wait_for(websocket.close(code, reason[:120]), timeout=2)


@router.websocket("/v1/realtime")
async def realtime(websocket: WebSocket, access_token: str | None = None, last_event_id: str | None = None) -> None:
    token, subprotocol = _offered_token(access_token, websocket.scope.get("subprotocols") or [])
    await websocket.accept(subprotocol=subprotocol)
    try:
        principal, claims = await _authenticate(websocket.app.state.gateway, token)
    except DomainError as exc:
        code = CLOSE_FORBIDDEN if exc.status_code == 403 else CLOSE_UNAUTHORIZED
        await _close(websocket, code, f"{exc.code}: {exc.message}")
        return
    if last_event_id is not None:
        try:
            parse_id(last_event_id)
        except ValueError as exc:
            await _close(websocket, CLOSE_BAD_REQUEST, f"invalid_last_event_id: {exc}")
            return
    runtime: RealtimeRuntime = websocket.app.state.realtime
    await _serve(websocket, runtime, principal, claims, last_event_id)


async def _serve(websocket: WebSocket, runtime: RealtimeRuntime, principal: Principal, claims: dict[str, Any],
                 last_event_id: str | None) -> None:
    state = await runtime.streams.state(str(principal.tenant_id))
    start, gap = state.last_id, None
    if last_event_id is not None:
        gap = state.gap_after(last_event_id)
        start = state.last_id if gap else last_event_id
        metrics.RESUMES.labels("resync" if gap else "resumed").inc()
    client = RealtimeClient(principal, start, runtime.send_queue, claims)
    metrics.CONNECTIONS.inc()
    tasks: list[asyncio.Task[Any]] = []
    try:
        await runtime.hub.join(client, state.last_id)
        if gap:
            await websocket.send_text(_control("realtime.resync", reason=gap, last_event_id=start))
        await websocket.send_text(_control("realtime.connected", last_event_id=start,
                                           heartbeat_seconds=runtime.heartbeat_seconds))
        tasks = [asyncio.create_task(_pump(websocket, client)), asyncio.create_task(_until_disconnect(websocket)),
                 asyncio.create_task(_heartbeats(client, runtime.heartbeat_seconds)),
                 asyncio.create_task(_expiry(client, float(claims["exp"]))),
                 asyncio.create_task(client.dropped.wait())]
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if not task.cancelled() and task.exception() is not None:  # e.g. a send to a vanished client
                log.info("realtime socket ended", reason=f"{type(task.exception()).__name__}")
    finally:
        runtime.hub.leave(client)
        metrics.CONNECTIONS.dec()
        for task in tasks:
            task.cancel()
    if client.dropped.is_set():
        metrics.CLIENTS_DROPPED.labels(client.drop_reason).inc()
        log.info("realtime socket dropped", reason=client.drop_reason, tenant_id=client.tenant,
                 user_id=str(principal.user_id))
        await _close(websocket, _CLOSE_CODES[client.drop_reason], _CLOSE_REASONS[client.drop_reason])
    elif tasks[1] not in done:
        await _close(websocket, 1011, "internal_error")


async def _pump(websocket: WebSocket, client: RealtimeClient) -> None:
    """Write the missed frames, then the queued ones, in order; the only writer of the socket."""
    for text in client.backlog:
        await websocket.send_text(text)
        metrics.FRAMES_SENT.inc()
    client.backlog.clear()
    while True:
        text = await client.queue.get()
        await websocket.send_text(text)
        if text.startswith('{"id"'):
            metrics.FRAMES_SENT.inc()


async def _until_disconnect(websocket: WebSocket) -> None:
    """Client frames carry nothing the server needs; reading them notices the disconnect."""
    while (await websocket.receive())["type"] != "websocket.disconnect":
        pass


async def _heartbeats(client: RealtimeClient, every: float) -> None:
    while True:
        await asyncio.sleep(every)
        client.push_control(_control("heartbeat"))


async def _expiry(client: RealtimeClient, expires_at: float) -> None:
    await asyncio.sleep(max(0.0, expires_at - datetime.now(UTC).timestamp()))
    client.drop(TOKEN_EXPIRED)
