"""The conversation service in-process on the session's real Postgres: its HTTP app through ASGI, and the
consumers' handlers fed the events Kafka would deliver (the kit's consumer/inbox is tested on its own)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from parley.contracts import Envelope
from parley.contracts.events.messages import MessageReceived, MessageStatus
from parley.contracts.events.users import UserCreated
from parley.conversation import directory
from parley.conversation.inbound import Inbound
from parley.conversation.main import build
from parley.conversation.models import kit_tables
from parley.conversation.settings import ConversationSettings
from parley.devstack.catalog import SERVICES
from parley.devstack.stack import Platform
from parley.kit.auth import Principal, current_principal
from parley.kit.service import Service

CONVERSATION = next(s for s in SERVICES if s.name == "conversation")
NUMBER = "106540352242922"


def digits(prefix: str = "5511", length: int = 13) -> str:
    return prefix + str(uuid.uuid4().int)[: length - len(prefix)]


def wamid() -> str:
    return f"wamid.{uuid.uuid4().hex}"


@dataclass
class Inbox:
    service: Service
    client: httpx.AsyncClient
    principal: Principal = field(default_factory=lambda: Principal(uuid.uuid4(), uuid.uuid4(), "owner"))

    @property
    def tenant_id(self) -> uuid.UUID:
        return self.principal.tenant_id

    @property
    def inbound(self) -> Inbound:
        return self.service.definition.extra_state["inbound"]  # type: ignore[return-value]

    def act_as(self, role: str, user_id: uuid.UUID | None = None) -> uuid.UUID:
        self.principal = Principal(self.tenant_id, user_id or uuid.uuid4(), role)
        return self.principal.user_id

    def message(self, wa_id: str, body: str | None = "hi", *, at: datetime | None = None, name: str = "Ana",
                message_id: str | None = None, tenant_id: uuid.UUID | None = None, **fields: Any) -> Envelope:
        """A ``message.received`` as ingest publishes it."""
        data: dict[str, Any] = {"wamid": message_id or wamid(), "phone_number_id": NUMBER, "wa_id": wa_id,
                                "from": wa_id, "profile_name": name, "timestamp": at or datetime.now(UTC),
                                "type": "text"}
        if body is not None:
            data["text"] = {"body": body}
        data.update(fields)
        return Envelope.wrap(MessageReceived.model_validate(data), source="/parley/ingest",
                             tenant_id=tenant_id or self.tenant_id)

    async def deliver(self, envelopes: list[Envelope]) -> None:
        """What the inbound consumer does with one fetched batch of a tenant's ``message.received``."""
        async with self.service.db.unit_of_work(tenant_id=envelopes[0].tenantid) as session:  # as the runner
            await self.inbound.record_messages(session, envelopes)

    async def receive(self, wa_id: str, body: str | None = "hi", **fields: Any) -> str:
        """One ``message.received`` delivered on its own; returns the wamid."""
        envelope = self.message(wa_id, body, **fields)
        await self.deliver([envelope])
        return envelope.data["wamid"]

    def status_event(self, status: str, *, client_message_id: uuid.UUID | None = None, wamid: str | None = None,
                     at: datetime | None = None, origin: str = "meta", **fields: Any) -> Envelope:
        """A ``message.status`` as ingest (Meta's) or the sender publishes it."""
        return Envelope.wrap(MessageStatus.model_validate({
            "status": status, "wamid": wamid, "phone_number_id": NUMBER, "recipient_id": "1",
            "timestamp": at or datetime.now(UTC), "origin": origin,
            "biz_opaque_callback_data": str(client_message_id) if client_message_id else None, **fields}),
            source="/parley/ingest", tenant_id=self.tenant_id)

    async def deliver_statuses(self, envelopes: list[Envelope]) -> None:
        """What the statuses consumer does with one fetched batch of a tenant's ``message.status``."""
        async with self.service.db.unit_of_work(tenant_id=envelopes[0].tenantid) as session:
            await self.inbound.record_statuses(session, envelopes)

    async def status(self, status: str, **fields: Any) -> None:
        await self.deliver_statuses([self.status_event(status, **fields)])

    async def user(self, role: str = "agent", email: str | None = None) -> uuid.UUID:
        """A gateway user (``user.created``) as the users consumer sees it."""
        user_id = uuid.uuid4()
        envelope = Envelope.wrap(UserCreated(tenant_id=self.tenant_id, user_id=user_id,
                                             email=email or f"{user_id.hex[:8]}@example.com", role=role),
                                 source="/parley/gateway", tenant_id=self.tenant_id)
        async with self.service.db.unit_of_work(tenant_id=envelope.tenantid) as session:
            await directory.sync_user(session, self.service.store, envelope)
        return user_id

    async def conversation_of(self, wa_id: str) -> dict[str, Any]:
        response = await self.client.get("/v1/conversations", params={"limit": 200})
        assert response.status_code == 200, response.text
        return next(c for c in response.json()["data"] if c["contact"]["wa_id"] == wa_id)

    async def messages(self, conversation_id: str, **params: Any) -> list[dict[str, Any]]:
        response = await self.client.get(f"/v1/conversations/{conversation_id}/messages", params=params)
        assert response.status_code == 200, response.text
        return response.json()["data"]

    async def events(self, *types: str) -> list[dict[str, Any]]:
        es = kit_tables.event_store
        async with self.service.db.unit_of_work() as session:
            rows = await session.scalars(select(es.c.envelope).where(es.c.tenant_id == self.tenant_id,
                                                                     es.c.event_type.in_(types))
                                         .order_by(es.c.position))
            return list(rows)


@pytest.fixture
async def inbox(platform: Platform) -> AsyncIterator[Inbox]:
    service = build(ConversationSettings(database_url=platform.database_url(CONVERSATION)))
    await service.migrate()
    app = service.create_app()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://conversation") as client:
        harness = Inbox(service, client)
        app.dependency_overrides[current_principal] = lambda: harness.principal
        try:
            yield harness
        finally:
            await service.db.dispose()
