"""Exactly-once sends: the states of an outbound message and every transition between them.

queued ──claim──▶ sending ──Graph answered──▶ accepted | failed | queued (retry later, or held on 190)
                     │
                     └─answer lost / process died─▶ in_doubt ──Meta status with our client id──▶ accepted
                                                         └──grace period over, no status──▶ queued (send again)

``sending`` is committed before the Graph call, so a crash never forgets a call that may have
happened; ``biz_opaque_callback_data`` = client_message_id lets Meta's statuses prove acceptance.
Each outcome is published (``message.status``) in the transaction that records it.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from prometheus_client import Counter
from sqlalchemy import func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from parley.contracts import Envelope
from parley.contracts.events.messages import MessageRequested, MessageStatus, MetaError
from parley.kit.consumer import PoisonMessage
from parley.kit.crypto import TenantCipher
from parley.kit.errors import DomainError
from parley.kit.eventstore import Append, EventStore
from parley.sender import pools
from parley.sender import service as channels
from parley.sender.classification import Disposition, Retry, backoff_seconds, classify
from parley.sender.graph import Accepted, NotSent, Rejected, SendOutcome, Unknown
from parley.sender.models import Channel, ChannelHealth, OutboundMessage, StatusProgress

AGGREGATE = "outbound-message"
FINAL = ("accepted", "failed")
IN_FLIGHT = ("sending", "in_doubt")

MESSAGES = Counter("parley_sender_messages_total",
                   "Outbound message transitions (accepted, failed, retried, held, in_doubt, reconciled) by Meta code",
                   ["outcome", "error_code"])


@dataclass(frozen=True)
class Policy:
    """How retries behave (from settings)."""

    retry: Retry
    max_transient_attempts: int


@dataclass(frozen=True)
class Claimed:
    """A message in ``sending``, ready for its Graph call."""

    id: int
    tenant_id: UUID
    phone_number_id: str
    access_token: str
    body: dict[str, Any]
    delay_seconds: float = 0.0  # until the number's reserved slot


def graph_body(request: MessageRequested) -> dict[str, Any]:
    """The Graph API request; ``biz_opaque_callback_data`` comes back on every status of the message."""
    body: dict[str, Any] = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": request.to,
                            "type": request.type, request.type: request.content,
                            "biz_opaque_callback_data": str(request.client_message_id)}
    if request.reply_to_wamid:
        body["context"] = {"message_id": request.reply_to_wamid}
    return body


def body_context(client_message_id: UUID) -> bytes:
    """AES-GCM associated data of a message's sealed body: it only opens as that message's body."""
    return b"sender.outbound_messages.body_sealed:" + str(client_message_id).encode()


async def _seal_bodies(session: AsyncSession, cipher: TenantCipher,
                       requests: list[tuple[UUID, MessageRequested]]) -> list[bytes]:
    """The requests' Graph bodies sealed, in order (one data-key read per tenant)."""
    sealed: dict[int, bytes] = {}
    by_tenant: dict[UUID, list[int]] = {}
    for index, (tenant_id, _) in enumerate(requests):
        by_tenant.setdefault(tenant_id, []).append(index)
    for tenant_id, indexes in by_tenant.items():
        bodies = await cipher.encrypt_many(session, tenant_id, [
            (json.dumps(graph_body(requests[i][1]), separators=(",", ":")).encode(),
             body_context(requests[i][1].client_message_id)) for i in indexes])
        sealed.update(zip(indexes, bodies, strict=True))
    return [sealed[i] for i in range(len(requests))]


# -- requests (the Kafka consumer's transaction) -------------------------------------------------


async def accept_requests(session: AsyncSession, store: EventStore, cipher: TenantCipher,
                          envelopes: list[Envelope]) -> None:
    """A batch of one tenant's requests, as ``accept_request`` one by one would queue them, in fewer statements.

    Requests to a number go in one insert per run of them (in the batch's order, so ids keep the order the
    requests were made in), with one ownership check of their numbers; a pool request picks its number
    first, as before. Repeats (redelivered, or twice in the batch) get the original outcome. Each message's
    Graph request body is stored sealed under the tenant's data key (it holds what the customer will read).
    """
    now = datetime.now(UTC)
    run: list[tuple[UUID, MessageRequested]] = []
    for envelope in envelopes:
        if envelope.tenantid is None:
            raise PoisonMessage("message.requested without a tenant id")
        request = MessageRequested.model_validate(envelope.data)
        if request.pool_id is None:
            run.append((envelope.tenantid, request))
            continue
        await _queue_many(session, store, cipher, run, now)
        run = []
        await _accept_pool_request(session, store, cipher, envelope.tenantid, request, now)
    await _queue_many(session, store, cipher, run, now)


async def _queue_many(session: AsyncSession, store: EventStore, cipher: TenantCipher,
                      requests: list[tuple[UUID, MessageRequested]], now: datetime) -> None:
    """``_queue`` for requests that name their number: one insert, one channel query, then the exceptions."""
    if len(requests) <= 1:
        for tenant_id, request in requests:
            await _queue(session, store, cipher, tenant_id, request, request.phone_number_id or "", now)
        return
    sealed = await _seal_bodies(session, cipher, requests)
    inserted: set[tuple[UUID, UUID]] = {(row.tenant_id, row.client_message_id) for row in await session.execute(
        insert(OutboundMessage).values([{
            "tenant_id": tenant_id, "client_message_id": request.client_message_id, "pool_id": None,
            "phone_number_id": request.phone_number_id or "", "recipient": request.to, "type": request.type,
            "body": None, "body_sealed": body, "status": "queued", "attempts": 0, "next_attempt_at": now,
            "version": 0, "requested_at": now, "updated_at": now,
        } for (tenant_id, request), body in zip(requests, sealed, strict=True)])
        .on_conflict_do_nothing(index_elements=["tenant_id", "client_message_id"])
        .returning(OutboundMessage.tenant_id, OutboundMessage.client_message_id))}
    numbers = {request.phone_number_id or "" for _, request in requests}
    owned = {(row.tenant_id, row.phone_number_id) for row in await session.execute(
        select(Channel.tenant_id, Channel.phone_number_id).where(Channel.phone_number_id.in_(sorted(numbers))))}
    settled: set[tuple[UUID, UUID]] = set()
    for tenant_id, request in requests:
        key = (tenant_id, request.client_message_id)
        if key in settled:
            continue
        settled.add(key)
        number = request.phone_number_id or ""
        if key not in inserted:  # queued before (a redelivery, or a repeat): the original outcome
            message = await _locked(session, tenant_id, request.client_message_id)
            if message.status in FINAL:
                await _publish_outcome(session, store, message)
        elif (tenant_id, number) not in owned:
            await _fail(session, store, await _locked(session, tenant_id, request.client_message_id), 0,
                        "channel_not_found", f"phone number {number} is not registered to this tenant")


async def _accept_pool_request(session: AsyncSession, store: EventStore, cipher: TenantCipher, tenant_id: UUID,
                               request: MessageRequested, now: datetime) -> None:
    """Pick the pool's number for this customer (sticky, else round robin over healthy members), then queue."""
    existing = (await session.execute(select(OutboundMessage.id).where(
        OutboundMessage.tenant_id == tenant_id, OutboundMessage.client_message_id == request.client_message_id,
    ))).scalar_one_or_none()
    if existing is not None:  # a redelivery: keep the number picked the first time
        await _queue(session, store, cipher, tenant_id, request, "", now)
        return
    try:
        phone_number_id = await pools.pick_number(session, tenant_id, request.pool_id, request.to)
    except DomainError as exc:  # unknown pool, or no member that can send
        await _queue(session, store, cipher, tenant_id, request, "", now, refused=(exc.code, exc.message))
        return
    await pools.note_outbound(session, tenant_id, request.to, phone_number_id)
    await _queue(session, store, cipher, tenant_id, request, phone_number_id, now)


async def _queue(session: AsyncSession, store: EventStore, cipher: TenantCipher, tenant_id: UUID,
                 request: MessageRequested, phone_number_id: str, now: datetime,
                 refused: tuple[str, str] | None = None) -> None:
    """Insert the queued message once; a repeat gets the original outcome; a refusal fails it at once."""
    inserted = await session.execute(
        insert(OutboundMessage).values(
            tenant_id=tenant_id, client_message_id=request.client_message_id, pool_id=request.pool_id,
            phone_number_id=phone_number_id, recipient=request.to, type=request.type, body=None,
            body_sealed=(await _seal_bodies(session, cipher, [(tenant_id, request)]))[0],
            status="queued", attempts=0, next_attempt_at=now, version=0,
            requested_at=now, updated_at=now,
        ).on_conflict_do_nothing(index_elements=["tenant_id", "client_message_id"]).returning(OutboundMessage.id))
    if inserted.scalar_one_or_none() is None:
        message = await _locked(session, tenant_id, request.client_message_id)
        if message.status in FINAL:
            await _publish_outcome(session, store, message)
        return
    if refused is None:
        channel = await session.get(Channel, phone_number_id)
        if channel is not None and channel.tenant_id == tenant_id:
            return
        refused = ("channel_not_found", f"phone number {phone_number_id} is not registered to this tenant")
    await _fail(session, store, await _locked(session, tenant_id, request.client_message_id), 0, *refused)


async def _locked(session: AsyncSession, tenant_id: UUID, client_message_id: UUID) -> OutboundMessage:
    query = select(OutboundMessage).where(OutboundMessage.tenant_id == tenant_id,
                                          OutboundMessage.client_message_id == client_message_id)
    return (await session.execute(query.with_for_update().execution_options(populate_existing=True))).scalar_one()


# -- sending (the worker's transactions) -----------------------------------------------------------


async def apply_outcome(session: AsyncSession, store: EventStore, message_id: int, outcome: SendOutcome,
                        policy: Policy, rng: random.Random | None = None) -> str:
    """Record what the Graph call told us; returns the message's new state."""
    return (await apply_outcomes(session, store, [(message_id, outcome)], policy, rng))[message_id]


async def apply_outcomes(session: AsyncSession, store: EventStore, results: list[tuple[int, SendOutcome]],
                         policy: Policy, rng: random.Random | None = None) -> dict[int, str]:
    """Record a round's Graph answers (one lock query, one append for the acceptances); new state per message."""
    query = (select(OutboundMessage)
             .where(OutboundMessage.id.in_([i for i, _ in results]), OutboundMessage.status.in_(IN_FLIGHT))
             .order_by(OutboundMessage.id).with_for_update().execution_options(populate_existing=True))
    messages = {m.id: m for m in (await session.execute(query)).scalars()}
    now, states, accepted = datetime.now(UTC), {}, []
    for message_id, outcome in results:
        message = messages.get(message_id)
        if message is None:  # Meta's status settled it first
            states[message_id] = "settled"
            continue
        message.updated_at = now
        if isinstance(outcome, Accepted):
            message.status, message.wamid, message.last_error = "accepted", outcome.wamid, None
            accepted.append(_status_append(message))
            message.version += 1
            MESSAGES.labels("accepted", "").inc()
        elif isinstance(outcome, Unknown):
            message.status, message.last_error, message.watermark_passed_at = "in_doubt", outcome.reason, None
            MESSAGES.labels("in_doubt", "").inc()
        elif isinstance(outcome, NotSent):
            _retry_later(message, None, f"not sent: {outcome.reason}", policy, now, rng)
            MESSAGES.labels("retried", "").inc()
        else:
            await _rejected(session, store, message, outcome, policy, now, rng)
        states[message_id] = message.status
    if accepted:
        await store.record_many(session, accepted)
    await session.flush()
    return states


async def _rejected(session: AsyncSession, store: EventStore, message: OutboundMessage, outcome: Rejected,
                    policy: Policy, now: datetime, rng: random.Random | None) -> None:
    disposition = classify(outcome.code, outcome.http_status)
    code_label = str(outcome.code or outcome.http_status)
    reason = f"({outcome.code}) {outcome.message or ''}".strip()
    if disposition is Disposition.NEEDS_TOKEN:
        # Held, not failed: the attempt does not count and the channel waits for a new token.
        message.status, message.attempts, message.last_error = "queued", message.attempts - 1, reason
        await channels.mark_needs_token(session, store, message.phone_number_id)
        MESSAGES.labels("held", code_label).inc()
    elif disposition is Disposition.PERMANENT or (
            disposition is Disposition.TRANSIENT and message.attempts >= policy.max_transient_attempts):
        await _fail(session, store, message, outcome.code or outcome.http_status, outcome.title, outcome.message,
                    outcome.details)
    else:
        _retry_later(message, outcome.code, reason, policy, now, rng)
        MESSAGES.labels("retried", code_label).inc()


def _retry_later(message: OutboundMessage, code: int | None, reason: str, policy: Policy, now: datetime,
                 rng: random.Random | None) -> None:
    message.status, message.last_error = "queued", reason
    message.next_attempt_at = now + timedelta(seconds=backoff_seconds(code, message.attempts, policy.retry, rng))


async def refuse(session: AsyncSession, store: EventStore, message_id: int, code: int, title: str,
                 reason: str) -> None:
    """Fail a claimed message before any Graph call (Meta would refuse it the same way)."""
    message = (await session.execute(select(OutboundMessage).where(OutboundMessage.id == message_id)
                                     .execution_options(populate_existing=True))).scalar_one()
    message.attempts, message.updated_at = message.attempts - 1, datetime.now(UTC)
    await _fail(session, store, message, code, title, reason)


async def _accept(session: AsyncSession, store: EventStore, message: OutboundMessage, wamid: str) -> None:
    message.status, message.wamid, message.last_error = "accepted", wamid, None
    await _publish_outcome(session, store, message)
    MESSAGES.labels("accepted", "").inc()


async def _fail(session: AsyncSession, store: EventStore, message: OutboundMessage, code: int | None,
                title: str | None, reason: str | None, details: str | None = None) -> None:
    message.status, message.error_code, message.error_title = "failed", code, title
    message.error_details, message.last_error = details, reason
    await _publish_outcome(session, store, message)
    MESSAGES.labels("failed", str(code)).inc()


async def _publish_outcome(session: AsyncSession, store: EventStore, message: OutboundMessage) -> None:
    await store.record_many(session, [_status_append(message)])
    message.version += 1
    await session.flush()


def _status_append(message: OutboundMessage) -> Append:
    """The message's outcome as a ``message.status`` event (origin sender), next in its aggregate."""
    errors = [] if message.status == "accepted" else [MetaError(
        code=message.error_code or 0, title=message.error_title, message=message.last_error,
        details=message.error_details)]
    status = MessageStatus(status=message.status, wamid=message.wamid, client_message_id=message.client_message_id,
                           phone_number_id=message.phone_number_id, recipient_id=message.recipient,
                           timestamp=datetime.now(UTC), origin="sender", errors=errors,
                           biz_opaque_callback_data=str(message.client_message_id))
    return Append(status, AGGREGATE, f"{message.tenant_id}:{message.client_message_id}", message.version,
                  message.tenant_id)


# -- in-doubt sends ------------------------------------------------------------------------------


async def mark_in_doubt(session: AsyncSession, older_than_seconds: float) -> int:
    """``sending`` rows no live call can still be answering (their process died): in doubt."""
    result = await session.execute(
        update(OutboundMessage).where(OutboundMessage.status == "sending",
                                      OutboundMessage.updated_at < func.now() - timedelta(seconds=older_than_seconds))
        .values(status="in_doubt", updated_at=func.now(), watermark_passed_at=None,
                last_error="the send's outcome is unknown"))
    return result.rowcount or 0


async def resend_unconfirmed(session: AsyncSession, grace_seconds: float, margin_seconds: float = 2.0) -> int:
    """In doubt past the grace period, and Meta's statuses have provably all come in since: resend.

    Two facts, both needed. (1) The number's watermark (latest Meta status time consumed) passed the
    attempt: ingest has published the number's statuses up to then (it handles a number's webhooks
    in order), so the send's own status, if any, was published before that moment; the sweeper stamps
    the message with when it first saw this. (2) Every partition of ``message.status`` has since been
    processed past that stamp (``status_progress``): statuses land on a partition by recipient, so one
    partition moving the watermark says nothing about another one still lagging. Only then can the
    absence of a status mean that Meta never took the send.
    """
    watermark_passed = select(ChannelHealth.phone_number_id).where(
        ChannelHealth.phone_number_id == OutboundMessage.phone_number_id,
        ChannelHealth.status_watermark > OutboundMessage.attempted_at + timedelta(seconds=margin_seconds))
    await session.execute(
        update(OutboundMessage).where(OutboundMessage.status == "in_doubt",
                                      OutboundMessage.watermark_passed_at.is_(None), watermark_passed.exists())
        .values(watermark_passed_at=text("now()")).execution_options(synchronize_session=False))
    past = OutboundMessage.watermark_passed_at + timedelta(seconds=margin_seconds)
    every_partition_past = (
        select(func.count()).where(StatusProgress.caught_up_at > past).scalar_subquery()
        >= select(func.coalesce(func.max(StatusProgress.partitions), 1)).scalar_subquery())
    result = await session.execute(
        update(OutboundMessage).where(OutboundMessage.status == "in_doubt",
                                      OutboundMessage.updated_at < func.now() - timedelta(seconds=grace_seconds),
                                      OutboundMessage.watermark_passed_at.is_not(None), every_partition_past)
        .values(status="queued", next_attempt_at=text("now()"), updated_at=text("now()"), watermark_passed_at=None,
                last_error="Meta's later statuses for the number never named this send: sending again")
        .execution_options(synchronize_session=False))
    return result.rowcount or 0


async def record_status_progress(session: AsyncSession, topic: str, caught_up: dict[int, datetime],
                                 partitions: int) -> None:
    """The statuses consumer's progress (``Subscription.on_progress``): times only ever move forward."""
    statement = insert(StatusProgress).values([
        {"partition": partition, "topic": topic, "partitions": partitions, "caught_up_at": at}
        for partition, at in sorted(caught_up.items())])
    await session.execute(statement.on_conflict_do_update(
        index_elements=["partition"],
        set_={"topic": statement.excluded.topic, "partitions": statement.excluded.partitions, "updated_at": func.now(),
              "caught_up_at": func.greatest(StatusProgress.caught_up_at, statement.excluded.caught_up_at)}))


async def reconcile_many(session: AsyncSession, store: EventStore, tenant_id: UUID,
                         statuses: list[MessageStatus]) -> None:
    """One tenant's statuses, in order: a Meta status carrying our client_message_id proves Meta accepted that
    send, so those naming one of our unsettled sends settle it (one lock query)."""
    proofs: list[tuple[UUID, MessageStatus]] = []
    for status in statuses:
        if status.origin != "meta" or not status.wamid or not status.biz_opaque_callback_data:
            continue
        try:
            proofs.append((UUID(status.biz_opaque_callback_data), status))
        except ValueError:
            continue  # someone else's tracking data
    if not proofs:
        return
    query = select(OutboundMessage).where(
        OutboundMessage.tenant_id == tenant_id, OutboundMessage.client_message_id.in_({c for c, _ in proofs}),
        OutboundMessage.attempts > 0, OutboundMessage.status.in_((*IN_FLIGHT, "queued")))
    unsettled = {m.client_message_id: m for m in (await session.execute(
        query.order_by(OutboundMessage.id).with_for_update().execution_options(populate_existing=True))).scalars()}
    for client_message_id, status in proofs:
        message = unsettled.get(client_message_id)
        if message is None or message.phone_number_id != status.phone_number_id or message.status in FINAL:
            continue
        assert status.wamid is not None
        message.updated_at = datetime.now(UTC)
        await _accept(session, store, message, status.wamid)
        MESSAGES.labels("reconciled", "").inc()
