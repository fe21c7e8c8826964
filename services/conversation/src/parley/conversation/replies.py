"""Agent replies: stored pending with a ``client_message_id``, sent by the sender through ``message.requested``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from parley.contracts import new_event_id
from parley.contracts.events.conversations import ConversationMessageAdded
from parley.contracts.events.messages import MessageRequested, Requester
from parley.conversation import repository, service
from parley.conversation.schemas import MessageOut, ReplyIn
from parley.conversation.sealing import Sealer, message_context
from parley.kit.auth import Principal
from parley.kit.errors import Conflict
from parley.kit.eventstore import Append, EventStore

MEDIA = {"image", "video", "audio", "document", "sticker"}


class WindowClosed(service.Unprocessable):
    code = "service_window_closed"


def _content(reply: ReplyIn) -> dict[str, Any]:
    """The Graph API object of the reply's type, checked for what Meta requires."""
    content = (reply.model_extra or {}).get(reply.type)
    if not isinstance(content, dict):
        raise service.Unprocessable(f"a {reply.type} message needs a `{reply.type}` object", code="validation_error")
    if reply.type == "text" and not (isinstance(content.get("body"), str) and 0 < len(content["body"]) <= 4096):
        raise service.Unprocessable("text.body must be 1 to 4096 characters", code="validation_error")
    if reply.type == "template" and not (content.get("name") and isinstance(content.get("language"), dict)):
        raise service.Unprocessable("a template needs `name` and `language`", code="validation_error")
    if reply.type in MEDIA and not (content.get("id") or content.get("link")):
        raise service.Unprocessable(f"{reply.type} needs a media `id` or a `link`", code="validation_error")
    if reply.type == "interactive" and not (content.get("type") and content.get("action")):
        raise service.Unprocessable("interactive needs `type` and `action`", code="validation_error")
    return content


def _preview(kind: str, content: dict[str, Any]) -> str:
    if kind == "text":
        return str(content["body"])[:512]
    if kind == "template":
        return f"[template] {content['name']}"
    if kind in MEDIA:
        return f"[{kind}] {content.get('caption') or ''}".strip()[:512]
    body = content.get("body")
    return str(body.get("text", "[interactive]"))[:512] if isinstance(body, dict) else "[interactive]"


async def send_reply(session: AsyncSession, store: EventStore, sealer: Sealer, principal: Principal,
                     conversation_id: UUID, reply: ReplyIn) -> tuple[MessageOut, bool]:
    """Store the reply as pending and request its send; returns (message, created). A repeated
    ``client_message_id`` returns the message stored the first time."""
    conversation = await service.visible_conversation(session, principal, conversation_id)
    if reply.client_message_id is not None:
        existing = await repository.message_by(session, principal.tenant_id, client_message_id=reply.client_message_id)
        if existing is not None:
            if existing.conversation_id != conversation.id:
                raise Conflict("this client_message_id belongs to another conversation")
            return (await service.messages_out(session, sealer, principal.tenant_id, [existing]))[0], False
    content = _content(reply)
    now = datetime.now(UTC)
    if reply.type != "template" and (conversation.window_expires_at is None or conversation.window_expires_at <= now):
        raise WindowClosed(
            "the 24-hour customer service window is closed: the customer has not written in the last 24 hours, "
            "so only a template message can be sent now", details={"window_expires_at": conversation.window_expires_at
                                                                    and conversation.window_expires_at.isoformat()})
    message_id, client_message_id = new_event_id(), reply.client_message_id or new_event_id()
    reply_to = (reply.context or {}).get("message_id")
    sealed = await sealer.seal(session, principal.tenant_id, {"text": _preview(reply.type, content),
                                                              "content": {reply.type: content}},
                               message_context(message_id))
    media = {k: v for k, v in content.items() if k in ("id", "link", "filename")} if reply.type in MEDIA else None
    await store.record_many(session, [
        Append(ConversationMessageAdded(
            conversation_id=conversation.id, message_id=message_id, wa_id=conversation.wa_id, direction="outbound",
            type=reply.type, sent_at=now, status="pending", client_message_id=client_message_id,
            author_id=principal.user_id, reply_to_wamid=reply_to, media=media, sealed_body=sealed,
            assignee_id=conversation.assignee_id, team_id=conversation.team_id),
            "conversation", str(conversation.id), conversation.version, principal.tenant_id),
        Append(MessageRequested(
            client_message_id=client_message_id, phone_number_id=conversation.phone_number_id, to=conversation.wa_id,
            type=reply.type, content=content, reply_to_wamid=reply_to, conversation_id=conversation.id,
            requested_by=Requester(kind="agent", id=str(principal.user_id))),
            "outbound-request", str(client_message_id), 0, principal.tenant_id),
    ])
    stored = await repository.message_by(session, principal.tenant_id, client_message_id=client_message_id)
    assert stored is not None
    return (await service.messages_out(session, sealer, principal.tenant_id, [stored]))[0], True
