"""The conversation service's CRM features in-process on the session's real Postgres, one fresh tenant per test."""

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
from parley.contracts.events.messages import MessageReceived
from parley.conversation.main import build
from parley.conversation.models import Contact, Conversation, kit_tables
from parley.conversation.settings import ConversationSettings
from parley.devstack.catalog import SERVICES
from parley.devstack.stack import Platform
from parley.kit.auth import Principal, current_principal
from parley.kit.service import Service

CONVERSATION = next(s for s in SERVICES if s.name == "conversation")
PHONE_NUMBER_ID = "106540352242922"


def new_wa_id() -> str:
    return "55" + str(uuid.uuid4().int)[:11]


def inbound(tenant_id: uuid.UUID, wa_id: str, *, text: str | None = None, at: datetime | None = None,
            name: str | None = "Ana", **typed: Any) -> Envelope:
    """A ``message.received`` as ingest publishes it."""
    body: dict[str, Any] = {"wamid": f"wamid.{uuid.uuid4().hex}", "phone_number_id": PHONE_NUMBER_ID, "wa_id": wa_id,
                            "from": wa_id, "profile_name": name, "timestamp": at or datetime.now(UTC),
                            "type": "text" if text is not None else typed.pop("type", "button")}
    if text is not None:
        body["text"] = {"body": text}
    body.update(typed)
    return Envelope.wrap(MessageReceived.model_validate(body), source="/parley/ingest", tenant_id=tenant_id)


@dataclass
class Crm:
    service: Service
    client: httpx.AsyncClient
    app: Any
    principal: Principal = field(default_factory=lambda: Principal(uuid.uuid4(), uuid.uuid4(), "owner"))

    def as_other_tenant(self) -> Principal:
        """Switch the caller to a brand-new tenant; returns the previous principal."""
        previous, self.principal = self.principal, Principal(uuid.uuid4(), uuid.uuid4(), "owner")
        return previous

    async def receive(self, envelope: Envelope) -> None:
        """What the conversation's inbound consumer does with one message (contact, conversation, timeline)."""
        inbound = self.service.definition.extra_state["inbound"]
        async with self.service.db.unit_of_work(tenant_id=envelope.tenantid) as session:  # as the consumer runner
            await inbound.record_message(session, envelope)  # type: ignore[attr-defined]

    async def contact(self, wa_id: str | None = None, name: str = "Ana", at: datetime | None = None) -> uuid.UUID:
        """A contact of the current tenant, created the way the service creates them (an inbound message)."""
        wa_id = wa_id or new_wa_id()
        await self.receive(inbound(self.principal.tenant_id, wa_id, text="hello", name=name, at=at))
        async with self.service.db.unit_of_work(tenant_id=self.principal.tenant_id) as session:
            return (await session.execute(select(Contact.id).where(
                Contact.tenant_id == self.principal.tenant_id, Contact.wa_id == wa_id))).scalar_one()

    async def conversation_of(self, wa_id: str) -> uuid.UUID:
        async with self.service.db.unit_of_work(tenant_id=self.principal.tenant_id) as session:
            return (await session.execute(select(Conversation.id).where(
                Conversation.tenant_id == self.principal.tenant_id, Conversation.wa_id == wa_id))).scalar_one()

    async def events(self, *, aggregate_id: str) -> list[dict[str, Any]]:
        es = kit_tables.event_store
        async with self.service.db.unit_of_work() as session:
            return list(await session.scalars(select(es.c.envelope).where(es.c.aggregate_id == aggregate_id)
                                              .order_by(es.c.position)))


def conversation_settings(platform: Platform, **overrides: Any) -> ConversationSettings:
    return ConversationSettings(database_url=platform.database_url(CONVERSATION), **overrides)


@pytest.fixture
async def crm(platform: Platform) -> AsyncIterator[Crm]:
    built = build(conversation_settings(platform, database_pool_size=12))
    await built.migrate()
    app = built.create_app()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://conversation") as client:
        harness = Crm(built, client, app)
        app.dependency_overrides[current_principal] = lambda: harness.principal
        try:
            yield harness
        finally:
            await built.db.dispose()
