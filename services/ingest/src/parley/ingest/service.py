"""Use cases of ingest: store webhooks first, then normalize and route them."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from parley.contracts import Envelope, new_event_id
from parley.contracts.events.channels import ChannelDeregistered, ChannelRegistered, ChannelUpdated
from parley.contracts.events.webhooks import WebhookReceived
from parley.ingest import normalizer, repository
from parley.ingest.models import WebhookRecord
from parley.kit.eventstore import ConcurrencyError, EventStore
from parley.kit.telemetry import get_logger

log = get_logger(__name__)

#: Headers never worth keeping with a raw webhook.
_DROPPED_HEADERS = {"authorization", "cookie", "proxy-authorization"}


def signature_matches(body: bytes, header: str, secrets: list[str]) -> bool:
    """``X-Hub-Signature-256: sha256=<hex>`` over the raw bytes, against any configured app secret."""
    scheme, _, received = header.partition("=")
    if scheme != "sha256" or not received:
        return False
    return any(
        hmac.compare_digest(hmac.new(secret.encode(), body, hashlib.sha256).hexdigest(), received.lower())
        for secret in secrets
    )


async def store_webhook(session: AsyncSession, store: EventStore, body: bytes, headers: Mapping[str, str],
                        *, inline_limit: int) -> UUID:
    """Persist the raw webhook and its ``webhook.received`` event in one synchronously committed transaction."""
    await session.execute(text("SET LOCAL synchronous_commit = on"))
    webhook_id = new_event_id()
    payload = _parse_json(body)
    numbers = normalizer.phone_number_ids(payload)
    digest = hashlib.sha256(body).hexdigest()
    session.add(WebhookRecord(
        id=webhook_id, kind="whatsapp", body=body, content_sha256=digest, size_bytes=len(body), status="received",
        headers={k: v for k, v in headers.items() if k.lower() not in _DROPPED_HEADERS},
    ))
    await session.flush()
    event = WebhookReceived(
        webhook_id=webhook_id, kind="whatsapp", received_at=datetime.now(UTC), content_sha256=digest,
        size_bytes=len(body), phone_number_ids=numbers,
        payload=payload if isinstance(payload, dict) and len(body) <= inline_limit else None,
    )
    await store.record(session, event, aggregate_type="webhook", aggregate_id=str(webhook_id),
                       expected_version=0, tenant_id=None)
    return webhook_id


def _parse_json(body: bytes) -> object:
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None


async def process_webhook(session: AsyncSession, store: EventStore, webhook_id: UUID) -> str:
    """Normalize a stored webhook into routed events; returns the webhook's new status."""
    record = await repository.get_webhook(session, webhook_id)
    if record is None:
        raise LookupError(f"webhook {webhook_id} is not stored")
    try:
        items = normalizer.normalize(_parse_json(record.body), webhook_id)
    except normalizer.Unreadable as exc:
        await repository.set_webhook_status(session, webhook_id, "quarantined", str(exc)[:2000], datetime.now(UTC))
        log.warning("webhook quarantined", webhook_id=str(webhook_id), reason=str(exc)[:300])
        return "quarantined"
    routes = await repository.routes_for(session, sorted({item.phone_number_id for item in items}))
    unrouted: set[str] = set()
    for item in items:
        route = routes.get(item.phone_number_id)
        if route is None or not route.active:
            unrouted.add(item.phone_number_id)
            continue
        await _emit(session, store, item, route.tenant_id)
    for number in sorted(unrouted):
        await repository.park(session, webhook_id, number)
    status = "parked" if unrouted else "processed"
    reason = f"no channel registered for {', '.join(sorted(unrouted))}" if unrouted else None
    await repository.set_webhook_status(session, webhook_id, status, reason, datetime.now(UTC))
    return status


async def _emit(session: AsyncSession, store: EventStore, item: normalizer.Inbound | normalizer.Status,
                tenant_id: UUID) -> None:
    """One event per wamid and per (wamid, status): a duplicate from Meta finds its aggregate taken."""
    if isinstance(item, normalizer.Inbound):
        payload, aggregate_type, aggregate_id = item.message, "inbound-message", item.message.wamid
    else:
        payload, aggregate_type = item.status, "message-status"
        aggregate_id = f"{item.status.wamid}:{item.status.status}"
    try:
        await store.record(session, payload, aggregate_type=aggregate_type, aggregate_id=aggregate_id,
                           expected_version=0, tenant_id=tenant_id)
    except ConcurrencyError:
        log.info("duplicate from Meta absorbed", aggregate=f"{aggregate_type}/{aggregate_id}")


async def apply_channel_event(session: AsyncSession, store: EventStore, envelope: Envelope) -> None:
    """Learn who owns a number, then process any webhooks that were waiting for it."""
    payload = envelope.payload()
    if not isinstance(payload, ChannelRegistered | ChannelUpdated | ChannelDeregistered):
        return
    number = payload.phone_number_id
    data: dict[str, object] = {"phone_number_id": number, "tenant_id": str(envelope.tenantid),
                               "active": not isinstance(payload, ChannelDeregistered),
                               "updated_at": envelope.time.isoformat()}
    if isinstance(payload, ChannelRegistered):
        data |= {"waba_id": payload.waba_id, "display_phone_number": payload.display_phone_number}
    version = await store.version_of(session, "route", number)
    await store.record_internal(session, "route.updated", data, aggregate_type="route", aggregate_id=number,
                                expected_version=version, tenant_id=envelope.tenantid)
    if data["active"]:
        for webhook_id in await repository.take_parked(session, number):
            await process_webhook(session, store, webhook_id)


async def project(session: AsyncSession, envelope: Envelope) -> None:
    """Projector of ingest's own events: only routes are projections (raw webhooks are the source)."""
    if envelope.type == "route.updated":
        data = dict(envelope.data)
        data["tenant_id"] = UUID(str(data["tenant_id"]))
        data["updated_at"] = datetime.fromisoformat(str(data["updated_at"]))
        await repository.upsert_route(session, data)
