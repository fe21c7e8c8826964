"""Helpers of the realtime tests: gateway replicas of our own, tokens, events on Kafka, socket readers."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from parley.contracts import Envelope
from parley.contracts.binding import to_record
from parley.contracts.events.conversations import ConversationMessageAdded, ConversationOpened, ConversationUpdated
from parley.devstack.stack import Platform
from parley.gateway.tokens import TokenIssuer
from tests.integration.gateway.gateway_harness import GATEWAY, free_port, wait_alive


@dataclass
class Replica:
    process: subprocess.Popen[bytes]
    url: str

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/v1/realtime"

    def metric(self, name: str, labels: str = "") -> float:
        """A sample of the replica's /metrics (0 when absent)."""
        wanted = f"{name}{{{labels}}}" if labels else name
        for line in httpx.get(f"{self.url}/metrics", timeout=5).text.splitlines():
            if line.startswith(wanted + " "):
                return float(line.split()[-1])
        return 0.0


def start_replica(platform: Platform, name: str, **settings: str) -> Replica:
    """A gateway process of our own (no upstreams), with ``GATEWAY_<SETTING>`` overrides."""
    port = free_port()
    env = {**platform.service_env(GATEWAY), "GATEWAY_PORT": str(port), "GATEWAY_SERVICE_URLS": "",
           **{f"GATEWAY_{key.upper()}": value for key, value in settings.items()}}
    log = open(platform.state_dir / "logs" / f"{name}.log", "ab")  # noqa: SIM115 - owned by the child
    process = subprocess.Popen([sys.executable, "-m", "parley.gateway"], env=env, stdout=log,
                               stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    replica = Replica(process, f"http://127.0.0.1:{port}")
    wait_alive(process, replica.url)
    return replica


def stop_replica(replica: Replica) -> None:
    replica.process.terminate()
    try:
        replica.process.wait(10)
    except subprocess.TimeoutExpired:
        replica.process.kill()


def signing_issuer(platform: Platform) -> TokenIssuer:
    """Issues tokens with the key every gateway process of the platform signs and verifies with."""
    pem = Path(platform.service_env(GATEWAY)["GATEWAY_JWT_PRIVATE_KEY_FILE"]).read_bytes()
    key = serialization.load_pem_private_key(pem, None)
    assert isinstance(key, Ed25519PrivateKey)
    return TokenIssuer(key, ttl_seconds=900)


@dataclass(frozen=True)
class Member:
    tenant_id: uuid.UUID
    user_id: uuid.UUID
    role: str
    token: str


def member(issuer: TokenIssuer, role: str = "owner", tenant_id: uuid.UUID | None = None) -> Member:
    tenant_id, user_id = tenant_id or uuid.uuid4(), uuid.uuid4()
    return Member(tenant_id, user_id, role, issuer.issue(user_id=user_id, tenant_id=tenant_id, role=role))


def expired_token(issuer: TokenIssuer) -> str:
    return issuer.issue(user_id=uuid.uuid4(), tenant_id=uuid.uuid4(), role="owner",
                        now=datetime.now(UTC) - timedelta(hours=1))


@dataclass
class Conversations:
    """Publishes conversation events of one tenant onto the session's conversation.changed topic."""

    producer: AIOKafkaProducer
    topic: str

    async def publish(self, tenant_id: uuid.UUID, payload: Any) -> Envelope:
        envelope = Envelope.wrap(payload, source="/parley/conversation", tenant_id=tenant_id,
                                 subject=str(payload.conversation_id))
        key, value, headers = to_record(envelope)
        await self.producer.send_and_wait(self.topic, value=value, key=key, headers=headers)
        return envelope

    async def message(self, tenant_id: uuid.UUID, conversation_id: uuid.UUID, text: str,
                      wa_id: str = "5511999990000") -> Envelope:
        return await self.publish(tenant_id, ConversationMessageAdded(
            conversation_id=conversation_id, message_id=uuid.uuid4(), wa_id=wa_id, direction="inbound",
            type="text", text=text, sent_at=datetime.now(UTC)))

    async def opened(self, tenant_id: uuid.UUID, conversation_id: uuid.UUID,
                     wa_id: str = "5511999990000") -> Envelope:
        return await self.publish(tenant_id, ConversationOpened(
            conversation_id=conversation_id, contact_id=uuid.uuid4(), wa_id=wa_id, phone_number_id="100000000000001",
            opened_at=datetime.now(UTC)))

    async def assigned(self, tenant_id: uuid.UUID, conversation_id: uuid.UUID, assignee_id: uuid.UUID,
                       wa_id: str = "5511999990000") -> Envelope:
        return await self.publish(tenant_id, ConversationUpdated(
            conversation_id=conversation_id, wa_id=wa_id, assignee_id=assignee_id))


def socket(replica: Replica, token: str | None = None, *, last_event_id: str | None = None,
           protocol_token: bool = False, **options: Any) -> Any:
    """A websockets connection to ``/v1/realtime`` (token in the query, or as the bearer subprotocol)."""
    query = {}
    if token and not protocol_token:
        query["access_token"] = token
    if last_event_id:
        query["last_event_id"] = last_event_id
    url = replica.ws_url + ("?" + str(httpx.QueryParams(query)) if query else "")
    if protocol_token:
        options["subprotocols"] = ["bearer", token]
    return connect(url, open_timeout=30, **options)


@dataclass
class Reader:
    """Everything a socket received, split into event frames (with an id) and control frames."""

    ws: ClientConnection
    events: list[dict[str, Any]] = field(default_factory=list)
    controls: list[dict[str, Any]] = field(default_factory=list)

    async def until(self, done: Callable[[Reader], bool], within: float = 90.0) -> Reader:
        deadline = time.monotonic() + within
        while not done(self):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"timed out; events so far: {[e['type'] for e in self.events]}, "
                                     f"controls: {[c['type'] for c in self.controls]}")
            try:
                frame = json.loads(await asyncio.wait_for(self.ws.recv(), remaining))
            except TimeoutError:
                continue
            (self.events if "id" in frame else self.controls).append(frame)
        return self

    async def connected(self) -> dict[str, Any]:
        await self.until(lambda r: any(c["type"] == "realtime.connected" for c in r.controls))
        return next(c for c in self.controls if c["type"] == "realtime.connected")

    def texts(self) -> list[str]:
        return [e["data"].get("text") for e in self.events if e["type"] == "conversation.message-added"]

    def has_text(self, text: str) -> bool:
        return text in self.texts()


async def settled(probe: Callable[[], bool], what: str, within: float = 60.0) -> None:
    """Poll ``probe`` without blocking the event loop (the sockets keep being served) until it holds."""
    deadline = time.monotonic() + within
    while not await asyncio.to_thread(probe):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.25)


async def close_reason(ws: ClientConnection, within: float = 30.0) -> tuple[int | None, str]:
    """Read until the server closes; its close code and reason."""
    try:
        async with asyncio.timeout(within):
            while True:
                await ws.recv()
    except ConnectionClosed as closed:
        return (closed.rcvd.code, closed.rcvd.reason) if closed.rcvd else (None, "")
