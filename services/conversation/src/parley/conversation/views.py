"""The inbox's hottest reads rendered straight from rows: the JSON of ``Page[ConversationOut]`` and
``Page[MessageOut]`` (those models stay the documented response), without building and validating models.

Only the bodies a page shows are opened (one key lookup per page); pydantic-core writes the JSON, so dates,
UUIDs and nulls read exactly as the models would write them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from fastapi import Response
from pydantic_core import to_json
from sqlalchemy.ext.asyncio import AsyncSession

from parley.conversation.sealing import Sealer, message_context


async def conversations(session: AsyncSession, sealer: Sealer, tenant_id: UUID, rows: Sequence[Any],
                        ) -> list[dict[str, Any]]:
    """``ConversationOut`` of rows of ``repository.LISTED``."""
    previews = await sealer.open_many(session, tenant_id, [
        (r.last_message_sealed, message_context(r.last_message_id) if r.last_message_id else b"") for r in rows])
    now = datetime.now(UTC)
    out = []
    for r, body in zip(rows, previews, strict=True):
        preview = body.get("text") if body else None
        out.append({
            "id": r.id, "status": r.status, "priority": r.priority, "labels": r.labels or [],
            "assignee_id": r.assignee_id, "team_id": r.team_id, "snoozed_until": r.snoozed_until,
            "phone_number_id": r.phone_number_id,
            "contact": {"id": r.contact_id, "wa_id": r.wa_id, "phone_e164": r.phone_e164,
                        "profile_name": r.profile_name, "attributes": r.attributes or {},
                        "labels": r.contact_labels or [], "created_at": r.contact_created_at},
            "opened_at": r.opened_at, "last_message_at": r.last_message_at,
            "last_message": {"id": r.last_message_id, "type": r.last_message_type, "preview": preview}
            if r.last_message_id else None,
            "last_message_preview": preview, "window_expires_at": r.window_expires_at,
            "window_open": r.window_expires_at is not None and r.window_expires_at > now,
        })
    return out


async def messages(session: AsyncSession, sealer: Sealer, tenant_id: UUID, rows: Sequence[Any]) -> list[dict[str, Any]]:
    """``MessageOut`` of ``messages`` rows."""
    bodies = await sealer.open_many(session, tenant_id, [(m.body_sealed, message_context(m.id)) for m in rows])
    return [{
        "id": m.id, "conversation_id": m.conversation_id, "wamid": m.wamid, "client_message_id": m.client_message_id,
        "direction": m.direction, "type": m.type, "status": m.status, "timestamp": m.sent_at, "sent_at": m.sent_at,
        "text": body.get("text") if body else None, "content": body.get("content") if body else None,
        "media": m.media, "reply_to_wamid": m.reply_to_wamid, "reply_to_message_id": m.reply_to_message_id,
        "reaction": m.reaction,
        "error": {"code": m.error_code, "message": m.error_message} if m.status == "failed" else None,
        "author_id": m.author_id,
    } for m, body in zip(rows, bodies, strict=True)]


def page(data: list[dict[str, Any]], *, limit: int, has_more: bool, next_cursor: str | None = None,
         prev_cursor: str | None = None) -> Response:
    """The standard page envelope, already JSON."""
    return Response(to_json({"success": True, "data": data, "pagination": {
        "limit": limit, "has_more": has_more, "next_cursor": next_cursor, "prev_cursor": prev_cursor}}),
        media_type="application/json")
