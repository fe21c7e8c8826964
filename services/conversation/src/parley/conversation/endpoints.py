"""Inbox API of the conversation service; every route verifies the caller's token itself."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Query

from parley.conversation import repository
from parley.conversation.schemas import ContactOut, ConversationOut, MessageOut
from parley.kit.auth import CurrentPrincipal
from parley.kit.errors import NotFound
from parley.kit.pagination import InvalidCursor, Page, PageInfo, decode_cursor, encode_cursor
from parley.kit.service import Session

router = APIRouter(prefix="/v1", tags=["conversations"])

Limit = Annotated[int, Query(ge=1, le=200)]


def _keyset(cursor: str | None) -> tuple[datetime, UUID] | None:
    if cursor is None:
        return None
    at, ident = decode_cursor(cursor, 2)
    try:
        return datetime.fromisoformat(at), UUID(ident)
    except ValueError:
        raise InvalidCursor("the cursor is not one this API issued") from None


@router.get("/conversations", response_model=Page[ConversationOut],
            summary="Conversations of the caller's tenant, most recent activity first")
async def list_conversations(
    principal: CurrentPrincipal, session: Session, limit: Limit = 20, cursor: str | None = None,
    status: Literal["open", "pending", "resolved", "snoozed"] | None = None,
) -> Page[ConversationOut]:
    rows = await repository.list_conversations(session, principal.tenant_id, status=status, limit=limit,
                                               after=_keyset(cursor))
    page = rows[:limit]
    data = [ConversationOut(
        id=c.id, status=c.status, phone_number_id=c.phone_number_id, opened_at=c.opened_at,
        last_message_at=c.last_message_at, last_message_preview=c.last_message_preview,
        window_expires_at=c.window_expires_at,
        contact=ContactOut(id=contact.id, wa_id=contact.wa_id, profile_name=contact.profile_name),
    ) for c, contact in page]
    next_cursor = encode_cursor(page[-1][0].last_message_at.isoformat(), page[-1][0].id) \
        if len(rows) > limit else None
    return Page(data=data, pagination=PageInfo(limit=limit, has_more=next_cursor is not None,
                                               next_cursor=next_cursor))


@router.get("/conversations/{conversation_id}/messages", response_model=Page[MessageOut],
            summary="A conversation's timeline in WhatsApp order; page with `before` (older) or `after` (newer)")
async def list_messages(
    conversation_id: UUID, principal: CurrentPrincipal, session: Session, limit: Limit = 50,
    before: str | None = None, after: str | None = None,
) -> Page[MessageOut]:
    if before and after:
        raise InvalidCursor("use either `before` or `after`, not both")
    if await repository.get_conversation(session, principal.tenant_id, conversation_id) is None:
        raise NotFound("no such conversation")
    rows = await repository.list_messages(session, principal.tenant_id, conversation_id, limit=limit,
                                          after=_keyset(after), before=_keyset(before))
    more = len(rows) > limit
    page = rows[:limit]
    if not after:
        page.reverse()
    data = [MessageOut.model_validate(m, from_attributes=True) for m in page]
    first, last = (page[0], page[-1]) if page else (None, None)
    older = encode_cursor(first.sent_at.isoformat(), first.id) if first and (more or after) else None
    newer = encode_cursor(last.sent_at.isoformat(), last.id) if last and (before or (after and more)) else None
    return Page(data=data, pagination=PageInfo(limit=limit, has_more=more, next_cursor=newer, prev_cursor=older))
