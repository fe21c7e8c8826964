"""Delivery statuses in bulk: a batch of one tenant's ``message.status`` as a few set-based statements.

The same ``conversation.message-updated`` events as ``Inbound.record_status`` appends one status at a time
(forward only, ``failed`` final, whatever order Meta and the sender deliver them in), then the final state of
each message and its conversation's version written with one statement per table.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from parley.contracts import Envelope
from parley.contracts.events.conversations import ConversationMessageUpdated
from parley.contracts.events.messages import MessageStatus
from parley.conversation.models import Conversation, Message
from parley.conversation.projections import STATUS_RANK
from parley.kit.eventstore import Append, EventStore

MESSAGES, CONVERSATIONS = Message.__table__, Conversation.__table__


def client_message_id(status: MessageStatus) -> UUID | None:
    """Ours (the sender's statuses) or echoed back by Meta in ``biz_opaque_callback_data``."""
    if status.client_message_id is not None:
        return status.client_message_id
    try:
        return UUID(status.biz_opaque_callback_data) if status.biz_opaque_callback_data else None
    except ValueError:
        return None


class BulkStatuses:
    def __init__(self, store: EventStore) -> None:
        self.store = EventStore(store.tables, source=store.source)  # this class writes the rows itself

    async def record(self, session: AsyncSession, envelopes: list[Envelope]) -> None:
        tenant_id = envelopes[0].tenantid
        statuses = [s for s in (e.payload() for e in envelopes)
                    if isinstance(s, MessageStatus) and s.status in STATUS_RANK]
        if tenant_id is None or not statuses:
            return
        by_client, by_wamid = await self._messages(session, tenant_id, statuses)
        changed: dict[UUID, dict[str, Any]] = {}
        found = []
        for status in statuses:
            cmid = client_message_id(status)
            message = by_client.get(cmid) if cmid else None
            if message is None and status.wamid:
                message = by_wamid.get(status.wamid)
            if message is None or message["direction"] != "outbound":
                continue
            if message["status"] == "failed" or STATUS_RANK[status.status] <= STATUS_RANK.get(
                    message["status"] or "pending", 0):
                continue
            error = status.errors[0] if status.errors else None
            message.update(status=status.status, status_at=status.timestamp, wamid=message["wamid"] or status.wamid,
                           error_code=error.code if error else None,
                           error_message=(error.details or error.message or error.title) if error else None)
            if message["wamid"]:
                by_wamid[message["wamid"]] = message
            changed[message["id"]] = message
            found.append((message, status))
        if not found:
            return
        conversations = await self._lock(session, tenant_id, {m["conversation_id"] for m, _ in found})
        appends = []
        for message, status in found:
            conversation = conversations[message["conversation_id"]]
            error = status.errors[0] if status.errors else None
            appends.append(Append(ConversationMessageUpdated(
                conversation_id=conversation["id"], message_id=message["id"], wa_id=conversation["wa_id"],
                wamid=status.wamid or message["wamid"], status=status.status, changed=["status"], at=status.timestamp,
                error_code=error.code if error else None,
                error_message=(error.details or error.message or error.title) if error else None,
                assignee_id=conversation["assignee_id"], team_id=conversation["team_id"]),
                "conversation", str(conversation["id"]), conversation["version"], tenant_id))
            conversation["version"] += 1
        await self.store.record_many(session, appends)
        await self._write(session, list(changed.values()), list(conversations.values()))

    @staticmethod
    async def _messages(session: AsyncSession, tenant_id: UUID, statuses: list[MessageStatus],
                        ) -> tuple[dict[UUID, dict[str, Any]], dict[str, dict[str, Any]]]:
        """The statuses' messages by client message id and by wamid (one row object for both)."""
        cmids = sorted({c for c in map(client_message_id, statuses) if c is not None})
        wamids = sorted({s.wamid for s in statuses if s.wamid})
        rows = await session.execute(
            select(MESSAGES.c.id, MESSAGES.c.conversation_id, MESSAGES.c.wamid, MESSAGES.c.client_message_id,
                   MESSAGES.c.direction, MESSAGES.c.status)
            .where(MESSAGES.c.tenant_id == tenant_id,
                   or_(MESSAGES.c.client_message_id.in_(cmids), MESSAGES.c.wamid.in_(wamids))))
        messages = [dict(row._mapping) for row in rows]
        return ({m["client_message_id"]: m for m in messages if m["client_message_id"]},
                {m["wamid"]: m for m in messages if m["wamid"]})

    @staticmethod
    async def _lock(session: AsyncSession, tenant_id: UUID, ids: set[UUID]) -> dict[UUID, dict[str, Any]]:
        rows = await session.execute(
            select(CONVERSATIONS.c.id, CONVERSATIONS.c.wa_id, CONVERSATIONS.c.assignee_id, CONVERSATIONS.c.team_id,
                   CONVERSATIONS.c.version)
            .where(CONVERSATIONS.c.tenant_id == tenant_id, CONVERSATIONS.c.id.in_(sorted(ids)))
            .order_by(CONVERSATIONS.c.id).with_for_update())
        return {row.id: dict(row._mapping) for row in rows}

    @staticmethod
    async def _write(session: AsyncSession, messages: list[dict[str, Any]],
                     conversations: list[dict[str, Any]]) -> None:
        columns = ("status", "status_at", "wamid", "error_code", "error_message")
        await session.execute(
            update(MESSAGES).where(MESSAGES.c.id == bindparam("b_id"))
            .values({c: bindparam(f"b_{c}") for c in columns}),
            [{"b_id": m["id"], **{f"b_{c}": m[c] for c in columns}} for m in messages])
        await session.execute(
            update(CONVERSATIONS).where(CONVERSATIONS.c.id == bindparam("b_id")).values(version=bindparam("b_version")),
            [{"b_id": c["id"], "b_version": c["version"]} for c in conversations])
