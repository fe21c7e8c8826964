"""Claiming due messages for sending, and holding back the ones that may not go yet.

A claimed message is refused before Meta sees it when it is free-form outside the customer's 24 h
window; it waits (back to ``queued`` with a later ``next_attempt_at``, the attempt not counted)
when its number is paused or out of a token, or when a limit holds it: the number's throughput,
the recipient pair rate, or the tenant's plan quotas. Waiting is never failing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from prometheus_client import Counter
from sqlalchemy import and_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from parley.kit.crypto import CryptoError, TenantCipher
from parley.kit.eventstore import EventStore
from parley.sender import outbound, plans, windows
from parley.sender import service as channels
from parley.sender.health import HealthPolicy, effective_rate
from parley.sender.limits import Ask, SendLimits, Verdict
from parley.sender.models import Channel, ChannelHealth, OutboundMessage

HELD = Counter("parley_sender_held_total", "Sends that waited for a limit (not failed), by limit", ["limit"])


@dataclass(frozen=True)
class Admission:
    """How claims are admitted (from settings)."""

    limits: SendLimits | None
    default_per_second: float
    health: HealthPolicy
    window_settle_seconds: float = 30.0


@dataclass(frozen=True)
class _Due:
    id: int
    tenant_id: UUID
    phone_number_id: str
    recipient: str
    type: str
    body: dict[str, Any] | None  # in clear: only messages queued before bodies were sealed
    attempts: int
    requested_at: datetime
    client_message_id: UUID
    body_sealed: bytes | None


@dataclass
class _Batch:
    """What one claim decided: sends to make now, messages to put back, messages to refuse."""

    claimed: list[outbound.Claimed]
    requeue: list[dict[str, Any]]
    refuse: list[_Due]  # free-form, outside the customer's window
    unreadable: list[_Due] = field(default_factory=list)  # content that can no longer be decrypted

    def hold(self, due: _Due, at: datetime, reason: str) -> None:
        self.requeue.append({"id": due.id, "status": "queued", "attempts": due.attempts - 1,
                             "next_attempt_at": at, "last_error": reason})


async def claim_due(session: AsyncSession, store: EventStore, cipher: TenantCipher, limit: int,
                    admission: Admission) -> tuple[list[outbound.Claimed], datetime | None]:
    """Move due messages of sendable numbers to ``sending`` (SKIP LOCKED: replicas share the queue).

    Returns them, and the earliest moment one of the messages put back may go (None: none was put back).
    """
    due = await _claim(session, limit)
    if not due:
        return [], None
    now = datetime.now(UTC)
    bodies = await _bodies(session, cipher, due)
    numbers = await _numbers(session, cipher, {d.phone_number_id for d in due}, admission, now)
    quotas = await plans.quotas_of(session, {d.tenant_id for d in due})
    open_windows = await windows.open_windows(
        session, [(d.tenant_id, d.phone_number_id, d.recipient) for d in due if windows.needs_window(d.type)], now)
    batch = _Batch([], [], [])
    candidates: list[tuple[_Due, str, float]] = []
    for item in due:
        if bodies[item.id] is None:  # the tenant's data key is gone (shredded): nothing left to send
            batch.unreadable.append(item)
            continue
        token, rate = numbers.get(item.phone_number_id, (None, admission.default_per_second))
        if token is None:  # no readable token: held like a 190 would hold it
            batch.hold(item, now, "the number has no usable access token")
            continue
        if windows.needs_window(item.type) and \
                (item.tenant_id, item.phone_number_id, item.recipient) not in open_windows:
            settle_until = item.requested_at + timedelta(seconds=admission.window_settle_seconds)
            if settle_until > now:  # the customer's message may still be on its way to us
                batch.hold(item, settle_until, "waiting to learn whether the customer's service window is open")
            else:
                batch.refuse.append(item)
            continue
        candidates.append((item, token, rate))
    if admission.limits is None:
        verdicts = [Verdict(0.0)] * len(candidates)
    else:  # every ask in one round trip; each is still decided atomically, in claim order
        verdicts = await admission.limits.admit_many([
            Ask(item.phone_number_id, rate, item.recipient, item.tenant_id, quotas.get(item.tenant_id))
            for item, _, rate in candidates])
    held_until: dict[str, datetime] = {}  # numbers found at their throughput limit in this batch
    for (item, token, rate), verdict in zip(candidates, verdicts, strict=True):
        if not verdict.admitted:
            HELD.labels(verdict.held_by or "").inc()
            at = now + timedelta(seconds=verdict.wait_seconds)
            if verdict.held_by == "number_throughput":  # spread the number's waiting messages one interval apart
                at = held_until[item.phone_number_id] + timedelta(seconds=1 / rate) \
                    if item.phone_number_id in held_until else at
                held_until[item.phone_number_id] = at
            batch.hold(item, at, f"waiting for a limit: {verdict.held_by}")
            continue
        body = bodies[item.id]
        assert body is not None
        batch.claimed.append(outbound.Claimed(item.id, item.tenant_id, item.phone_number_id, token, body,
                                              verdict.wait_seconds))
    if batch.requeue:
        await session.execute(update(OutboundMessage), batch.requeue)
    for item in batch.refuse:
        await outbound.refuse(session, store, item.id, windows.OUTSIDE_WINDOW, "outside_customer_window",
                              windows.refusal(item.recipient))
    for item in batch.unreadable:
        await outbound.refuse(session, store, item.id, 0, "content_unreadable",
                              "the message's content can no longer be decrypted (the tenant's data key is gone)")
    return batch.claimed, min((row["next_attempt_at"] for row in batch.requeue), default=None)


async def _claim(session: AsyncSession, limit: int) -> list[_Due]:
    due = (select(OutboundMessage.id)
           .join(Channel, and_(Channel.phone_number_id == OutboundMessage.phone_number_id,
                               Channel.tenant_id == OutboundMessage.tenant_id))
           .where(OutboundMessage.status == "queued", OutboundMessage.next_attempt_at <= text("now()"),
                  Channel.status == "active", Channel.paused.is_(False))
           .order_by(OutboundMessage.next_attempt_at).limit(limit)
           .with_for_update(of=OutboundMessage, skip_locked=True))
    rows = (await session.execute(
        update(OutboundMessage).where(OutboundMessage.id.in_(due.scalar_subquery()))
        .values(status="sending", attempts=OutboundMessage.attempts + 1, updated_at=text("now()"),
                attempted_at=text("now()"))
        .returning(OutboundMessage.id, OutboundMessage.tenant_id, OutboundMessage.phone_number_id,
                   OutboundMessage.recipient, OutboundMessage.type, OutboundMessage.body, OutboundMessage.attempts,
                   OutboundMessage.requested_at, OutboundMessage.client_message_id, OutboundMessage.body_sealed)
        .execution_options(synchronize_session=False)
    )).all()
    return [_Due(*row) for row in rows]


async def _bodies(session: AsyncSession, cipher: TenantCipher, due: list[_Due]) -> dict[int, dict[str, Any] | None]:
    """Each claimed message's Graph body, opened with one data-key read per tenant (None: it cannot be opened)."""
    bodies: dict[int, dict[str, Any] | None] = {d.id: d.body for d in due if d.body_sealed is None}
    by_tenant: dict[UUID, list[_Due]] = {}
    for item in due:
        if item.body_sealed is not None:
            by_tenant.setdefault(item.tenant_id, []).append(item)
    for tenant_id, items in by_tenant.items():
        try:
            opened = await cipher.decrypt_many(session, tenant_id, [
                (item.body_sealed, outbound.body_context(item.client_message_id)) for item in items
                if item.body_sealed is not None])
        except CryptoError:  # find which ones: the others still send
            opened = []
            for item in items:
                try:
                    assert item.body_sealed is not None
                    opened.append(await cipher.decrypt(session, tenant_id, item.body_sealed,
                                                       outbound.body_context(item.client_message_id)))
                except CryptoError:
                    opened.append(b"")
        bodies.update((item.id, json.loads(plain) if plain else None)
                      for item, plain in zip(items, opened, strict=True))
    return bodies


async def _numbers(session: AsyncSession, cipher: TenantCipher, numbers: set[str], admission: Admission,
                   now: datetime) -> dict[str, tuple[str | None, float]]:
    """Per number: its access token (None if unreadable) and its send rate now (setting, slowed while unhealthy)."""
    rows = (await session.execute(select(Channel, ChannelHealth)
                                  .outerjoin(ChannelHealth, ChannelHealth.phone_number_id == Channel.phone_number_id)
                                  .where(Channel.phone_number_id.in_(numbers)))).all()
    tokens = await _tokens(session, cipher, [channel for channel, _ in rows])
    found: dict[str, tuple[str | None, float]] = {}
    for channel, health in rows:
        configured = channel.throughput_per_second or admission.default_per_second
        found[channel.phone_number_id] = (tokens.get(channel.phone_number_id),
                                          effective_rate(configured, health, admission.health, now))
    return found


async def _tokens(session: AsyncSession, cipher: TenantCipher, numbers: list[Channel]) -> dict[str, str | None]:
    """The numbers' access tokens, one data-key read per tenant; a number whose token cannot be read gets None."""
    by_tenant: dict[UUID, list[Channel]] = {}
    for channel in numbers:
        if channel.access_token_ciphertext is not None:
            by_tenant.setdefault(channel.tenant_id, []).append(channel)
    tokens: dict[str, str | None] = {}
    for tenant_id, sealed in by_tenant.items():
        try:
            plain = await cipher.decrypt_many(session, tenant_id, [
                (c.access_token_ciphertext, channels.token_context(c.phone_number_id)) for c in sealed])
            tokens.update((c.phone_number_id, p.decode()) for c, p in zip(sealed, plain, strict=True))
        except CryptoError:  # find which ones: the others still send
            for channel in sealed:
                try:
                    tokens[channel.phone_number_id] = await channels.access_token(session, cipher, channel)
                except CryptoError:
                    tokens[channel.phone_number_id] = None
    return tokens
