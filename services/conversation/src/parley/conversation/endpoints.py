"""Inbox API: conversations, their timelines, replies and notes. Every route verifies the caller's token itself."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request, Response

from parley.conversation import replies, service, views
from parley.conversation.repository import ConversationFilter, Keyset
from parley.conversation.schemas import ConversationOut, ConversationPatch, MessageOut, NoteIn, NoteOut, ReplyIn, Status
from parley.conversation.sealing import Sealer
from parley.kit.auth import CurrentPrincipal
from parley.kit.errors import DomainError
from parley.kit.pagination import InvalidCursor, Page, decode_cursor, encode_cursor
from parley.kit.service import CurrentService, TenantSession

router = APIRouter(prefix="/v1/conversations", tags=["conversations"])

Limit = Annotated[int, Query(ge=1, le=200)]


async def get_sealer(request: Request) -> Sealer:
    return request.app.state.sealer


Sealing = Annotated[Sealer, Depends(get_sealer)]


def keyset(cursor: str | None) -> Keyset | None:
    if cursor is None:
        return None
    at, ident = decode_cursor(cursor, 2)
    try:
        return datetime.fromisoformat(at), UUID(ident)
    except ValueError:
        raise InvalidCursor("the cursor is not one this API issued") from None


def _assignee(value: str | None) -> tuple[UUID | None, bool]:
    if value in (None, ""):
        return None, False
    if value == "none":
        return None, True
    try:
        return UUID(value), False
    except ValueError:
        raise DomainError("assignee is a user id or `none`", code="validation_error", status_code=422) from None


@router.get("", response_model=Page[ConversationOut], summary="Conversations, most recent activity first")
async def list_conversations(
    principal: CurrentPrincipal, session: TenantSession, sealer: Sealing, limit: Limit = 20, cursor: str | None = None,
    status: Status | None = None, assignee: Annotated[str | None, Query(description="user id, `me` or `none`")] = None,
    team: UUID | None = None, label: str | None = None, channel: str | None = None,
    q: Annotated[str | None, Query(max_length=100, description="contact name or phone")] = None,
    stage: Annotated[UUID | None, Query(description="pipeline stage id: conversations whose contact's lead is there")]
    = None,
) -> Response:
    assignee_id, unassigned = _assignee(str(principal.user_id) if assignee == "me" else assignee)
    f = ConversationFilter(status=status, assignee_id=assignee_id, unassigned=unassigned, team_id=team,
                           label=label.strip().lower() if label else None, phone_number_id=channel, q=q or None,
                           stage_id=stage)
    data, following = await service.list_conversations(session, sealer, principal, f, limit=limit,
                                                       after=keyset(cursor))
    next_cursor = encode_cursor(following[0].isoformat(), following[1]) if following else None
    return views.page(data, limit=limit, has_more=following is not None, next_cursor=next_cursor)


@router.get("/{conversation_id}", response_model=ConversationOut, summary="One conversation")
async def get_conversation(conversation_id: UUID, principal: CurrentPrincipal, session: TenantSession,
                           sealer: Sealing) -> ConversationOut:
    return await service.get_conversation(session, sealer, principal, conversation_id)


@router.patch("/{conversation_id}", response_model=ConversationOut,
              summary="Change status, priority, snooze, assignee, team or labels")
async def update_conversation(conversation_id: UUID, patch: ConversationPatch, principal: CurrentPrincipal,
                              session: TenantSession, sealer: Sealing, svc: CurrentService) -> ConversationOut:
    await service.update_conversation(session, svc.store, principal, conversation_id, patch)
    session.expire_all()
    return await service.get_conversation(session, sealer, principal, conversation_id)


@router.get("/{conversation_id}/messages", response_model=Page[MessageOut],
            summary="A conversation's timeline in WhatsApp order: the latest page, then `direction=older|newer`")
async def get_messages(
    conversation_id: UUID, principal: CurrentPrincipal, session: TenantSession, sealer: Sealing, limit: Limit = 50,
    cursor: str | None = None, direction: Literal["older", "newer"] = "older",
) -> Response:
    newer = direction == "newer"
    page, data, more = await service.list_messages(session, sealer, principal, conversation_id, limit=limit,
                                                   cursor=keyset(cursor), newer=newer)

    def at(i: int) -> str:
        return encode_cursor(page[i].sent_at.isoformat(), page[i].id)

    # next_cursor continues in the requested direction; prev_cursor goes back the other way.
    if newer:
        next_cursor, prev_cursor = (at(-1) if page and more else None), (at(0) if page and cursor else None)
    else:
        next_cursor, prev_cursor = (at(0) if page and more else None), (at(-1) if page and cursor else None)
    return views.page(data, limit=limit, has_more=more, next_cursor=next_cursor, prev_cursor=prev_cursor)


@router.post("/{conversation_id}/messages", response_model=MessageOut, status_code=201,
             summary="Reply: stored pending with its client_message_id, then sent; 200 for a repeated id")
async def reply(conversation_id: UUID, body: ReplyIn, principal: CurrentPrincipal, session: TenantSession,
                sealer: Sealing, svc: CurrentService, response: Response) -> MessageOut:
    message, created = await replies.send_reply(session, svc.store, sealer, principal, conversation_id, body)
    if not created:
        response.status_code = 200
    return message


@router.post("/{conversation_id}/notes", response_model=NoteOut, status_code=201,
             summary="A private note for the team (never sent to the customer)")
async def add_note(conversation_id: UUID, body: NoteIn, principal: CurrentPrincipal, session: TenantSession,
                   sealer: Sealing, svc: CurrentService) -> NoteOut:
    return await service.add_note(session, svc.store, sealer, principal, conversation_id, body.body)


@router.get("/{conversation_id}/notes", response_model=Page[NoteOut],
            summary="A conversation's notes in time order, oldest page first (`direction=older` without a cursor: "
                    "the latest)")
async def get_notes(conversation_id: UUID, principal: CurrentPrincipal, session: TenantSession, sealer: Sealing,
                    limit: Limit = 50, cursor: str | None = None,
                    direction: Literal["older", "newer"] = "newer") -> Page[NoteOut]:
    return await service.list_notes(session, sealer, principal, conversation_id, limit=limit, cursor=keyset(cursor),
                                    newer=direction == "newer")
