"""Use cases of the inbox: reading conversations and timelines, changing, assigning and annotating them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import ColumnElement
from sqlalchemy.ext.asyncio import AsyncSession

from parley.contracts import new_event_id
from parley.contracts.events.conversations import ConversationNoteAdded, ConversationUpdated
from parley.conversation import repository, views
from parley.conversation.models import Contact, Conversation, Message
from parley.conversation.repository import ConversationFilter, Keyset
from parley.conversation.schemas import (
    ContactOut,
    ConversationOut,
    ConversationPatch,
    LastMessage,
    MessageError,
    MessageOut,
    NoteOut,
)
from parley.conversation.sealing import Sealer, message_context, note_context
from parley.kit.auth import Principal
from parley.kit.errors import DomainError, Forbidden, NotFound
from parley.kit.eventstore import EventStore
from parley.kit.pagination import Page, PageInfo, encode_cursor

MANAGERS = frozenset({"owner", "admin", "manager"})


class Unprocessable(DomainError):
    status_code = 422


async def visibility(session: AsyncSession, principal: Principal) -> ColumnElement[bool] | None:
    """``None`` for managers (everything); for agents, their own and their teams' unassigned conversations."""
    if principal.role in MANAGERS:
        return None
    teams = await repository.team_ids_of(session, principal.tenant_id, principal.user_id)
    return repository.agent_visibility(principal.user_id, teams)


def contact_out(contact: Contact) -> ContactOut:
    return ContactOut(id=contact.id, wa_id=contact.wa_id, phone_e164=contact.phone_e164,
                      profile_name=contact.profile_name, attributes=contact.attributes or {},
                      labels=contact.labels or [], created_at=contact.created_at)


async def conversations_out(session: AsyncSession, sealer: Sealer, tenant_id: UUID,
                            rows: list[tuple[Conversation, Contact]]) -> list[ConversationOut]:
    previews = await sealer.open_many(session, tenant_id, [
        (c.last_message_sealed, message_context(c.last_message_id) if c.last_message_id else b"") for c, _ in rows])
    now = datetime.now(UTC)
    return [ConversationOut(
        id=c.id, status=c.status, priority=c.priority, labels=c.labels or [], assignee_id=c.assignee_id,
        team_id=c.team_id, snoozed_until=c.snoozed_until, phone_number_id=c.phone_number_id,
        contact=contact_out(contact), opened_at=c.opened_at, last_message_at=c.last_message_at,
        last_message=LastMessage(id=c.last_message_id, type=c.last_message_type,
                                 preview=(body or {}).get("text")) if c.last_message_id else None,
        last_message_preview=(body or {}).get("text"),
        window_expires_at=c.window_expires_at,
        window_open=c.window_expires_at is not None and c.window_expires_at > now,
    ) for (c, contact), body in zip(rows, previews, strict=True)]


async def messages_out(session: AsyncSession, sealer: Sealer, tenant_id: UUID,
                       messages: Sequence[Message | Any]) -> list[MessageOut]:
    bodies = await sealer.open_many(session, tenant_id, [(m.body_sealed, message_context(m.id)) for m in messages])
    return [MessageOut(
        id=m.id, conversation_id=m.conversation_id, wamid=m.wamid, client_message_id=m.client_message_id,
        direction=m.direction, type=m.type, status=m.status, timestamp=m.sent_at, sent_at=m.sent_at,
        text=(body or {}).get("text"), content=(body or {}).get("content"), media=m.media,
        reply_to_wamid=m.reply_to_wamid, reply_to_message_id=m.reply_to_message_id, reaction=m.reaction,
        error=MessageError(code=m.error_code, message=m.error_message) if m.status == "failed" else None,
        author_id=m.author_id,
    ) for m, body in zip(messages, bodies, strict=True)]


async def list_conversations(session: AsyncSession, sealer: Sealer, principal: Principal, f: ConversationFilter,
                             *, limit: int, after: Keyset | None) -> tuple[list[dict[str, Any]], Keyset | None]:
    """A page of conversations (``ConversationOut`` as JSON-ready dicts) and the keyset of the next page (``None``
    on the last)."""
    visible = await visibility(session, principal)
    rows = await repository.list_conversations(session, principal.tenant_id, f, limit=limit, after=after,
                                               visible=visible)
    page = rows[:limit]
    following = (page[-1].last_message_at, page[-1].id) if len(rows) > limit else None
    return await views.conversations(session, sealer, principal.tenant_id, page), following


async def list_messages(session: AsyncSession, sealer: Sealer, principal: Principal, conversation_id: UUID, *,
                        limit: int, cursor: Keyset | None, newer: bool) -> tuple[list[Any], list[dict[str, Any]], bool]:
    """A page of the timeline in WhatsApp order: its rows, their ``MessageOut`` dicts, and whether more follow.

    404 unless the caller may see the conversation; agents' visibility is checked by the page's own query."""
    visible = await visibility(session, principal)
    rows = await repository.list_messages(session, principal.tenant_id, conversation_id, limit=limit, cursor=cursor,
                                          newer=newer, visible=visible)
    if not rows and not await repository.conversation_visible(session, principal.tenant_id, conversation_id, visible):
        raise NotFound("no such conversation")
    more, page = len(rows) > limit, rows[:limit]
    if not newer:
        page.reverse()
    return page, await views.messages(session, sealer, principal.tenant_id, page), more


async def get_conversation(session: AsyncSession, sealer: Sealer, principal: Principal,
                           conversation_id: UUID) -> ConversationOut:
    row = await repository.conversation_with_contact(session, principal.tenant_id, conversation_id,
                                                     await visibility(session, principal))
    if row is None:
        raise NotFound("no such conversation")
    [out] = await conversations_out(session, sealer, principal.tenant_id, [row])
    return out


async def require_visible(session: AsyncSession, principal: Principal, conversation_id: UUID) -> None:
    """404 unless the caller may see the conversation (no body is opened)."""
    if not await repository.conversation_visible(session, principal.tenant_id, conversation_id,
                                                 await visibility(session, principal)):
        raise NotFound("no such conversation")


async def visible_conversation(session: AsyncSession, principal: Principal, conversation_id: UUID) -> Conversation:
    """The conversation, locked for a change, if the caller may see it (else 404, whoever owns it)."""
    row = await repository.conversation_with_contact(session, principal.tenant_id, conversation_id,
                                                     await visibility(session, principal))
    conversation = await repository.lock_conversation(session, principal.tenant_id, conversation_id) if row else None
    if conversation is None:
        raise NotFound("no such conversation")
    return conversation


async def _validate_assignment(session: AsyncSession, principal: Principal, conversation: Conversation,
                               patch: ConversationPatch, fields: set[str]) -> None:
    if "assignee_id" in fields and patch.assignee_id != conversation.assignee_id:
        if principal.role not in MANAGERS and patch.assignee_id not in (principal.user_id, None):
            raise Forbidden("agents can only assign conversations to themselves")
        if principal.role not in MANAGERS and patch.assignee_id is None \
                and conversation.assignee_id != principal.user_id:
            raise Forbidden("agents can only unassign themselves")
        if patch.assignee_id is not None:
            agent = await repository.agent(session, principal.tenant_id, patch.assignee_id)
            if agent is None or agent.status != "active":
                raise Unprocessable("the assignee is not an active user of this tenant", code="unknown_agent")
    if "team_id" in fields and patch.team_id != conversation.team_id:
        if principal.role not in MANAGERS:
            raise Forbidden("only managers move conversations between teams")
        # Locked: a team deleted meanwhile would be left on the conversation (its deletion clears only earlier ones).
        if patch.team_id is not None and await repository.lock_team(session, principal.tenant_id, patch.team_id,
                                                                    share=True) is None:
            raise Unprocessable("no such team", code="unknown_team")


def _snooze(conversation: Conversation, patch: ConversationPatch, fields: set[str]) -> None:
    """Fill ``patch`` so status and snooze agree: leaving ``snoozed`` clears the snooze time."""
    status = patch.status if "status" in fields else conversation.status
    if "snoozed_until" in fields and patch.snoozed_until is not None:
        if status != "snoozed":
            raise Unprocessable("snoozed_until needs status snoozed", code="invalid_snooze")
        if patch.snoozed_until <= datetime.now(UTC):
            raise Unprocessable("snoozed_until must be in the future", code="invalid_snooze")
    if status != "snoozed" and conversation.snoozed_until is not None:
        patch.snoozed_until = None
        fields.add("snoozed_until")


async def update_conversation(session: AsyncSession, store: EventStore, principal: Principal,
                              conversation_id: UUID, patch: ConversationPatch) -> None:
    """Change status, priority, snooze, assignee, team or labels; one ``conversation.updated`` names the changes."""
    conversation = await visible_conversation(session, principal, conversation_id)
    fields = set(patch.model_fields_set)
    if "status" in fields and patch.status is None or "priority" in fields and patch.priority is None:
        raise Unprocessable("status and priority cannot be null", code="validation_error")
    _snooze(conversation, patch, fields)
    await _validate_assignment(session, principal, conversation, patch, fields)
    changed = sorted(f for f in fields if getattr(patch, f) != (getattr(conversation, f) or
                                                                 ([] if f == "labels" else None)))
    if not changed:
        return
    state = {"status": conversation.status, "assignee_id": conversation.assignee_id, "team_id": conversation.team_id}
    await store.record(session, ConversationUpdated(
        conversation_id=conversation.id, wa_id=conversation.wa_id, changed=changed, actor_id=principal.user_id,
        **(state | {f: getattr(patch, f) for f in changed})),
        aggregate_type="conversation", aggregate_id=str(conversation.id), expected_version=conversation.version,
        tenant_id=principal.tenant_id)


async def reopen_due_snoozes(session: AsyncSession, store: EventStore, limit: int = 100) -> int:
    """Snoozed conversations whose time has come are open again; returns how many."""
    due = await repository.due_snoozes(session, datetime.now(UTC), limit)
    for conversation in due:
        await store.record(session, ConversationUpdated(
            conversation_id=conversation.id, wa_id=conversation.wa_id, status="open",
            assignee_id=conversation.assignee_id, team_id=conversation.team_id, changed=["snoozed_until", "status"]),
            aggregate_type="conversation", aggregate_id=str(conversation.id), expected_version=conversation.version,
            tenant_id=conversation.tenant_id)
    return len(due)


async def add_note(session: AsyncSession, store: EventStore, sealer: Sealer, principal: Principal,
                   conversation_id: UUID, body: str) -> NoteOut:
    conversation = await visible_conversation(session, principal, conversation_id)
    note_id, now = new_event_id(), datetime.now(UTC)
    sealed = await sealer.seal(session, principal.tenant_id, {"body": body}, note_context(note_id))
    await store.record(session, ConversationNoteAdded(
        conversation_id=conversation.id, note_id=note_id, wa_id=conversation.wa_id, author_id=principal.user_id,
        created_at=now, sealed_body=sealed, assignee_id=conversation.assignee_id, team_id=conversation.team_id),
        aggregate_type="conversation", aggregate_id=str(conversation.id), expected_version=conversation.version,
        tenant_id=principal.tenant_id)
    return NoteOut(id=note_id, conversation_id=conversation.id, author_id=principal.user_id, body=body, created_at=now)


async def list_notes(session: AsyncSession, sealer: Sealer, principal: Principal, conversation_id: UUID, *,
                     limit: int, cursor: Keyset | None, newer: bool) -> Page[NoteOut]:
    """A page of notes in time order; ``next_cursor`` continues in the direction asked, ``prev_cursor`` goes back."""
    await require_visible(session, principal, conversation_id)
    notes = await repository.list_notes(session, principal.tenant_id, conversation_id, limit=limit, cursor=cursor,
                                        newer=newer)
    more, page = len(notes) > limit, notes[:limit]
    if not newer:
        page.reverse()
    bodies = await sealer.open_many(session, principal.tenant_id, [(n.body_sealed, note_context(n.id)) for n in page])
    data = [NoteOut(id=n.id, conversation_id=n.conversation_id, author_id=n.author_id, body=(b or {})["body"],
                    created_at=n.created_at) for n, b in zip(page, bodies, strict=True)]

    def at(i: int) -> str | None:
        return encode_cursor(page[i].created_at.isoformat(), page[i].id) if page else None

    onward, back = (-1, 0) if newer else (0, -1)
    return Page(data=data, pagination=PageInfo(limit=limit, has_more=more, next_cursor=at(onward) if more else None,
                                               prev_cursor=at(back) if cursor else None))
