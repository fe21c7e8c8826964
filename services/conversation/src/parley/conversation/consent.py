"""Use cases of consent: opt-out keywords, opted-out customers and the tenant's blocklist.

Changes are published on ``contact.changed`` so campaigns and flows skip these customers. A keyword
message only counts when it is newer (WhatsApp time) than the customer's last consent change, so a
late-delivered STOP never undoes a later START.
"""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from parley.contracts import Envelope
from parley.contracts.events.consent import ContactBlocked, ContactOptedIn, ContactOptedOut, ContactUnblocked
from parley.contracts.events.messages import MessageReceived
from parley.conversation import consent_repository as repository
from parley.conversation.consent_schemas import BlockIn, KeywordsIn, KeywordsOut, OptOutIn
from parley.conversation.crm_models import BlockedNumber, ContactConsent
from parley.conversation.keywords import DEFAULT_OPT_IN, DEFAULT_OPT_OUT, KeywordMatch, match
from parley.kit.auth import Principal
from parley.kit.errors import Conflict, Forbidden, NotFound
from parley.kit.eventstore import ConcurrencyError, EventStore

CONSENT_CONFIRMED = "contact.consent-confirmed"  # internal: an opt-in keyword from a customer who was not opted out
KEYWORDS_SET = "opt-out.keywords-set"  # internal: a tenant's keyword configuration
KEYWORD_EDITORS = frozenset({"owner", "admin", "manager"})
_PUBLIC = {"contact.opted-out", "contact.opted-in", "contact.blocked", "contact.unblocked"}


async def _record(session: AsyncSession, store: EventStore, tenant_id: UUID, aggregate: str, wa_id: str,
                  payload: BaseModel) -> None:
    aggregate_id = f"{tenant_id}:{wa_id}"
    version = await store.version_of(session, aggregate, aggregate_id)
    try:
        await store.record(session, payload, aggregate_type=aggregate, aggregate_id=aggregate_id,
                           expected_version=version, tenant_id=tenant_id)
    except ConcurrencyError:
        raise Conflict("this number was changed at the same moment; try again", code="concurrent_change") from None


# -- keywords ---------------------------------------------------------------------------------------------------


async def get_keywords(session: AsyncSession, tenant_id: UUID) -> KeywordsOut:
    row = await repository.keywords(session, tenant_id)
    if row is None:
        return KeywordsOut(opt_out=list(DEFAULT_OPT_OUT), opt_in=list(DEFAULT_OPT_IN), default=True)
    return KeywordsOut(opt_out=row.opt_out, opt_in=row.opt_in, default=False)


async def set_keywords(session: AsyncSession, store: EventStore, principal: Principal, body: KeywordsIn) -> KeywordsOut:
    if principal.role not in KEYWORD_EDITORS:
        raise Forbidden("only an owner, admin or manager can change the opt-out keywords")
    tenant_id = principal.tenant_id
    version = await store.version_of(session, "opt-out-keywords", str(tenant_id))
    try:
        await store.record_internal(session, KEYWORDS_SET, {
            "opt_out": list(dict.fromkeys(body.opt_out)), "opt_in": list(dict.fromkeys(body.opt_in)),
            "actor_id": str(principal.user_id), "updated_at": datetime.now(UTC).isoformat(),
        }, aggregate_type="opt-out-keywords", aggregate_id=str(tenant_id), expected_version=version,
            tenant_id=tenant_id)
    except ConcurrencyError:
        raise Conflict("the keywords were changed at the same moment; try again", code="concurrent_change") from None
    return await get_keywords(session, tenant_id)


# -- opt-outs ---------------------------------------------------------------------------------------------------


async def opt_out(session: AsyncSession, store: EventStore, principal: Principal, body: OptOutIn) -> ContactConsent:
    """An agent records that the customer asked to stop (409 when already opted out)."""
    tenant_id = principal.tenant_id
    current = await repository.consent(session, tenant_id, body.wa_id)
    if current is not None and current.opted_out:
        raise Conflict("this number has already opted out", code="already_opted_out")
    await _record(session, store, tenant_id, "contact-consent", body.wa_id, ContactOptedOut(
        wa_id=body.wa_id, source="manual", reason=body.reason, actor_id=principal.user_id,
        opted_out_at=datetime.now(UTC)))
    row = await repository.consent(session, tenant_id, body.wa_id)
    assert row is not None
    return row


async def opt_in(session: AsyncSession, store: EventStore, principal: Principal, wa_id: str) -> None:
    """Reverse an opt-out (404 when the number is not opted out)."""
    current = await repository.consent(session, principal.tenant_id, wa_id)
    if current is None or not current.opted_out:
        raise NotFound("this number has not opted out")
    await _record(session, store, principal.tenant_id, "contact-consent", wa_id, ContactOptedIn(
        wa_id=wa_id, source="manual", actor_id=principal.user_id, opted_in_at=datetime.now(UTC)))


#: The message types ``_said`` reads words from.
_TYPED_OR_TAPPED = frozenset({"text", "button", "interactive"})


def _said(message: MessageReceived) -> str | None:
    """What the customer typed or tapped: a text body, a quick-reply button, an interactive button's title."""
    if message.text:
        return message.text.body
    if message.button:
        return message.button.text or message.button.payload
    if message.interactive and message.interactive.type == "button_reply":
        return message.interactive.title
    return None


async def detect_keywords(session: AsyncSession, store: EventStore, envelopes: list[Envelope]) -> None:
    """Opt customers out (or back in) whose whole inbound message is one of the tenant's keywords.

    A batch handler: one tenant's messages in order; its keywords are read once, and only a message that
    matches one costs more (most messages are not keywords).
    """
    config: KeywordsOut | None = None
    for envelope in envelopes:
        if envelope.data.get("type") not in _TYPED_OR_TAPPED:  # an image, a reaction...: not read further
            continue
        message = envelope.payload()
        tenant_id = envelope.tenantid
        if not isinstance(message, MessageReceived) or tenant_id is None:
            continue
        said = _said(message)
        if said is None:
            continue
        if config is None:
            config = await get_keywords(session, tenant_id)
        found = match(said, config.opt_out, config.opt_in)
        if found is not None:
            await _apply_keyword(session, store, tenant_id, message, found)


async def _apply_keyword(session: AsyncSession, store: EventStore, tenant_id: UUID, message: MessageReceived,
                         found: KeywordMatch) -> None:
    current = await repository.consent(session, tenant_id, message.wa_id)
    if current is not None and current.changed_at >= message.timestamp:
        return  # older than the latest change: a late STOP must not undo a later START
    opted_out = current is not None and current.opted_out
    if found.kind == "opt_out" and not opted_out:
        await _record(session, store, tenant_id, "contact-consent", message.wa_id, ContactOptedOut(
            wa_id=message.wa_id, source="keyword", keyword=found.keyword, wamid=message.wamid,
            opted_out_at=message.timestamp))
    elif found.kind == "opt_in" and opted_out:
        await _record(session, store, tenant_id, "contact-consent", message.wa_id, ContactOptedIn(
            wa_id=message.wa_id, source="keyword", keyword=found.keyword, wamid=message.wamid,
            opted_in_at=message.timestamp))
    elif found.kind == "opt_in":
        aggregate_id = f"{tenant_id}:{message.wa_id}"
        version = await store.version_of(session, "contact-consent", aggregate_id)
        await store.record_internal(session, CONSENT_CONFIRMED, {
            "wa_id": message.wa_id, "keyword": found.keyword, "wamid": message.wamid,
            "at": message.timestamp.isoformat()}, aggregate_type="contact-consent", aggregate_id=aggregate_id,
            expected_version=version, tenant_id=tenant_id)


# -- blocklist --------------------------------------------------------------------------------------------------


async def block(session: AsyncSession, store: EventStore, principal: Principal, body: BlockIn) -> BlockedNumber:
    tenant_id = principal.tenant_id
    if await repository.blocked(session, tenant_id, body.wa_id) is not None:
        raise Conflict("this number is already blocked", code="already_blocked")
    await _record(session, store, tenant_id, "blocklist", body.wa_id, ContactBlocked(
        wa_id=body.wa_id, reason=body.reason, actor_id=principal.user_id, blocked_at=datetime.now(UTC)))
    row = await repository.blocked(session, tenant_id, body.wa_id)
    assert row is not None
    return row


async def unblock(session: AsyncSession, store: EventStore, principal: Principal, wa_id: str) -> None:
    if await repository.blocked(session, principal.tenant_id, wa_id) is None:
        raise NotFound("this number is not blocked")
    await _record(session, store, principal.tenant_id, "blocklist", wa_id, ContactUnblocked(
        wa_id=wa_id, actor_id=principal.user_id, unblocked_at=datetime.now(UTC)))


# -- projection -------------------------------------------------------------------------------------------------


async def project(session: AsyncSession, envelope: Envelope) -> bool:
    """Apply a consent or blocklist event; False when the event is not one of them."""
    tenant_id, data = envelope.tenantid, envelope.data
    if envelope.type == KEYWORDS_SET:
        await repository.set_keywords(session, tenant_id=tenant_id, opt_out=data["opt_out"], opt_in=data["opt_in"],
                                      updated_at=datetime.fromisoformat(data["updated_at"]))
    elif envelope.type == CONSENT_CONFIRMED:
        await repository.set_consent(session, tenant_id=tenant_id, wa_id=data["wa_id"], opted_out=False,
                                     source="keyword", keyword=data["keyword"], wamid=data["wamid"], reason=None,
                                     changed_at=datetime.fromisoformat(data["at"]))
    elif envelope.type in _PUBLIC:
        await _project_public(session, tenant_id, envelope.payload())
    else:
        return False
    return True


async def _project_public(session: AsyncSession, tenant_id: UUID | None, payload: BaseModel) -> None:
    if isinstance(payload, ContactOptedOut):
        await repository.set_consent(session, tenant_id=tenant_id, wa_id=payload.wa_id, opted_out=True,
                                     source=payload.source, keyword=payload.keyword, wamid=payload.wamid,
                                     reason=payload.reason, changed_at=payload.opted_out_at)
    elif isinstance(payload, ContactOptedIn):
        await repository.set_consent(session, tenant_id=tenant_id, wa_id=payload.wa_id, opted_out=False,
                                     source=payload.source, keyword=payload.keyword, wamid=payload.wamid,
                                     reason=None, changed_at=payload.opted_in_at)
    elif isinstance(payload, ContactBlocked):
        await repository.block(session, tenant_id=tenant_id, wa_id=payload.wa_id, reason=payload.reason,
                               blocked_by=payload.actor_id, blocked_at=payload.blocked_at)
    elif isinstance(payload, ContactUnblocked):
        await repository.unblock(session, tenant_id, payload.wa_id)
