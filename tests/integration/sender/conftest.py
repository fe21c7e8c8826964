"""The sender's domain in-process on real Postgres, sending to the session's Cloud API sandbox process."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
import pytest
from pydantic import BaseModel
from sqlalchemy import select

from parley.contracts import Envelope
from parley.contracts.events.messages import MessageRequested, Requester
from parley.devstack.catalog import SERVICES
from parley.devstack.stack import Platform
from parley.kit.auth import Principal, current_principal
from parley.kit.service import Service
from parley.sender.main import build
from parley.sender.models import Channel, OutboundMessage, kit_tables
from parley.sender.settings import SenderSettings
from parley.sender.worker import Sender
from tests.support.platform import eventually

SENDER = next(s for s in SERVICES if s.name == "sender")


@pytest.fixture(scope="session")
def sandbox_url(platform: Platform) -> str:
    """The platform's sandbox (started here when no end-to-end test started it already)."""
    if "sandbox" not in platform.processes:
        platform.start_sandbox()
        platform.wait_ready(timeout=60, only=["sandbox"])
    return platform.sandbox_url()


def unique_digits(prefix: str, length: int = 15) -> str:
    return prefix + str(uuid.uuid4().int)[: length - len(prefix)]


@dataclass
class Harness:
    service: Service
    client: httpx.AsyncClient
    sandbox: httpx.AsyncClient
    principal: Principal = field(default_factory=lambda: Principal(uuid.uuid4(), uuid.uuid4(), "owner"))

    @property
    def sender(self) -> Sender:
        return self.service.definition.extra_state["sender"]  # type: ignore[return-value]

    async def sandbox_number(self) -> tuple[str, str]:
        """A fresh business number in the sandbox with its own token: (phone_number_id, token)."""
        number, token = unique_digits("3"), f"test-token-{uuid.uuid4().hex}"
        response = await self.sandbox.post("/sandbox/numbers", json={
            "phone_number_id": number, "display_phone_number": unique_digits("1555", 11),
            "waba_id": unique_digits("4"), "verified_name": "Sender Test", "access_token": token})
        assert response.status_code in (200, 201), response.text
        return number, token

    async def channel(self) -> str:
        number, token = await self.sandbox_number()
        response = await self.client.post("/v1/channels", json={
            "phone_number_id": number, "waba_id": unique_digits("4"), "display_phone_number": "+1 555 0100",
            "access_token": token})
        assert response.status_code == 201, response.text
        return number

    async def request(self, phone_number_id: str | None, client_message_id: uuid.UUID | None = None,
                      to: str | None = None, *, pool_id: uuid.UUID | None = None,
                      text: str | None = None) -> uuid.UUID:
        """What the consumer does with one ``message.requested`` (a hello_world template, or free-form text)."""
        client_message_id = client_message_id or uuid.uuid4()
        await self.consume("sender.requests", self.requested(phone_number_id, client_message_id, to,
                                                             pool_id=pool_id, text=text))
        return client_message_id

    @staticmethod
    def requested(phone_number_id: str | None, client_message_id: uuid.UUID, to: str | None = None, *,
                  pool_id: uuid.UUID | None = None, text: str | None = None) -> MessageRequested:
        kind, content = ("text", {"body": text}) if text is not None else \
            ("template", {"name": "hello_world", "language": {"code": "en_US"}})
        return MessageRequested(
            client_message_id=client_message_id, phone_number_id=phone_number_id, pool_id=pool_id,
            to=to or unique_digits("1", 11), type=kind, content=content, requested_by=Requester(kind="api"))

    async def consume(self, consumer: str, payload: BaseModel, tenant_id: uuid.UUID | None = None,
                      time: datetime | None = None) -> None:
        """Hand one event to the sender's subscription ``consumer``, in a transaction like the consumer's."""
        envelope = Envelope.wrap(payload, source="/tests", tenant_id=tenant_id or self.principal.tenant_id, time=time)
        await self.consume_batch(consumer, [envelope])

    async def consume_batch(self, consumer: str, envelopes: list[Envelope]) -> None:
        """Hand one tenant's events to ``consumer`` together, in one transaction, as the consumer runner does."""
        [subscription] = [s for s in self.service.definition.subscriptions if s.consumer == consumer]
        async with self.service.db.unit_of_work(tenant_id=envelopes[0].tenantid) as session:
            if subscription.batch_handler is not None:
                await subscription.batch_handler(session, envelopes)
            else:
                assert subscription.handler is not None
                for envelope in envelopes:
                    await subscription.handler(session, envelope)

    async def message(self, client_message_id: uuid.UUID) -> OutboundMessage:
        async with self.service.db.unit_of_work(tenant_id=self.principal.tenant_id) as session:
            return (await session.execute(select(OutboundMessage).where(
                OutboundMessage.tenant_id == self.principal.tenant_id,
                OutboundMessage.client_message_id == client_message_id))).scalar_one()

    async def channel_row(self, phone_number_id: str) -> Channel:
        async with self.service.db.unit_of_work(system=True) as session:
            channel = await session.get(Channel, phone_number_id)
            assert channel is not None
            return channel

    async def settle(self, client_message_id: uuid.UUID, *statuses: str, sender: Sender | None = None,
                     within: float = 30.0) -> OutboundMessage:
        """Run send rounds until the message reaches one of ``statuses`` (polling with a deadline)."""
        import asyncio
        import time

        deadline = time.monotonic() + within
        while True:
            await (sender or self.sender).send_due()
            message = await self.message(client_message_id)
            if message.status in statuses:
                return message
            assert time.monotonic() < deadline, f"message is {message.status}, not {statuses}: {message.last_error}"
            await asyncio.sleep(0.05)

    async def sends(self, client_message_id: uuid.UUID) -> list[dict[str, Any]]:
        response = await self.sandbox.get("/sandbox/sends", params={"payloads": "false"})
        return [s for s in response.json()["sends"] if s["biz_opaque_callback_data"] == str(client_message_id)]

    async def events(self, event_type: str, aggregate_id: str) -> list[dict[str, Any]]:
        es = kit_tables.event_store
        async with self.service.db.unit_of_work() as session:
            rows = await session.scalars(select(es.c.envelope).where(es.c.event_type == event_type,
                                                                     es.c.aggregate_id == aggregate_id)
                                         .order_by(es.c.position))
            return list(rows)

    async def statuses(self, client_message_id: uuid.UUID) -> list[dict[str, Any]]:
        return [e["data"] for e in await self.events("message.status",
                                                      f"{self.principal.tenant_id}:{client_message_id}")]


def sender_settings(platform: Platform, sandbox_url: str, **overrides: Any) -> SenderSettings:
    return SenderSettings(database_url=platform.database_url(SENDER), graph_api_url=f"{sandbox_url}/v23.0",
                          redis_url=platform.infra.redis_url,
                          retry_base_seconds=0.05, retry_max_seconds=0.2, pair_backoff_base_seconds=0.1,
                          graph_timeout_seconds=5, in_doubt_grace_seconds=3600,
                          **{"window_settle_seconds": 0.3, **overrides})


@pytest.fixture(scope="module")
def exclusive_queue(platform: Platform) -> Iterator[None]:
    """These tests drive the send loop themselves: a running sender process would claim their messages."""
    was_running = "sender" in platform.processes
    platform.stop_service("sender")
    yield
    if was_running:
        platform.start_services(only=["sender"])
        platform.wait_ready(timeout=60, only=["sender"])


@pytest.fixture
async def sender(platform: Platform, sandbox_url: str, exclusive_queue: None) -> AsyncIterator[Harness]:
    built = build(sender_settings(platform, sandbox_url))
    await built.migrate()
    app = built.create_app()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sender") as client, \
            httpx.AsyncClient(base_url=sandbox_url, timeout=10) as sandbox:
        harness = Harness(built, client, sandbox)
        app.dependency_overrides[current_principal] = lambda: harness.principal
        try:
            yield harness
        finally:
            await app.state.graph.close()
            await built.db.dispose()


__all__ = ["Harness", "eventually", "sender_settings", "unique_digits"]
