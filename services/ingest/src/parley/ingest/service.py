"""Use cases of ingest: normalize and route stored webhooks, learn routes, replay."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from parley.contracts import Envelope
from parley.contracts.events.channels import ChannelDeregistered, ChannelRegistered, ChannelUpdated
from parley.contracts.events.webhooks import WebhookReceived
from parley.ingest import normalizer, repository
from parley.ingest.models import ChannelRoute, WebhookRecord
from parley.kit.eventstore import ConcurrencyError, EventStore
from parley.kit.telemetry import get_logger

log = get_logger(__name__)

#: Turns a stored generic (non-Meta) hook webhook into events; provided by the inbound hooks module.
GenericProcessor = Callable[[AsyncSession, EventStore, WebhookRecord], Awaitable[str]]


def signature_matches(body: bytes, header: str, secrets: list[str]) -> bool:
    """``X-Hub-Signature-256: sha256=<hex>`` over the raw bytes, against any configured app secret."""
    scheme, _, received = header.partition("=")
    if scheme != "sha256" or not received:
        return False
    return any(
        hmac.compare_digest(hmac.new(secret.encode(), body, hashlib.sha256).hexdigest(), received.lower())
        for secret in secrets
    )


def parse_json(body: bytes) -> object:
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None


def waba_route_key(waba_id: str) -> str:
    """Parked account notices wait under this key until a channel of that WABA is registered."""
    return f"waba:{waba_id}"


async def process_webhook(session: AsyncSession, store: EventStore, webhook_id: UUID,
                          generic: GenericProcessor | None = None) -> str:
    """Normalize a stored webhook into routed events; returns the webhook's new status."""
    record = await repository.get_webhook(session, webhook_id)
    if record is None:
        raise LookupError(f"webhook {webhook_id} is not stored")
    if record.kind != "whatsapp":
        if generic is None:
            return await _quarantine(session, record, f"no processor for {record.kind} webhooks")
        try:
            return await generic(session, store, record)
        except normalizer.Unreadable as exc:
            return await _quarantine(session, record, str(exc))
    try:
        items = normalizer.normalize(parse_json(record.body), webhook_id)
    except normalizer.Unreadable as exc:
        return await _quarantine(session, record, str(exc))
    unrouted = await _route_all(session, store, items)
    for key in sorted(unrouted):
        await repository.park(session, webhook_id, key)
    status = "parked" if unrouted else "processed"
    reason = f"waiting for a channel: {', '.join(sorted(unrouted))}" if unrouted else None
    await repository.set_webhook_status(session, webhook_id, status, reason, datetime.now(UTC))
    return status


async def _quarantine(session: AsyncSession, record: WebhookRecord, reason: str) -> str:
    await repository.set_webhook_status(session, record.id, "quarantined", reason[:2000], datetime.now(UTC))
    log.warning("webhook quarantined", webhook_id=str(record.id), reason=reason[:300])
    return "quarantined"


async def _route_all(session: AsyncSession, store: EventStore, items: list[normalizer.Item]) -> set[str]:
    """Emit every item whose number (or WABA) has an active channel; return the keys still unrouted."""
    numbers = sorted({i.phone_number_id for i in items if not isinstance(i, normalizer.AccountNotice)})
    routes = await repository.routes_for(session, numbers)
    wabas = await repository.routes_for_wabas(session, sorted({i.waba_id for i in items
                                                                if isinstance(i, normalizer.AccountNotice)}))
    unrouted: set[str] = set()
    for item in items:
        if isinstance(item, normalizer.AccountNotice):
            route, key = wabas.get(item.waba_id), waba_route_key(item.waba_id)
        else:
            route, key = routes.get(item.phone_number_id), item.phone_number_id
        if route is None or not route.active:
            unrouted.add(key)
            continue
        await _emit(session, store, item, route)
    return unrouted


async def _emit(session: AsyncSession, store: EventStore, item: normalizer.Item, route: ChannelRoute) -> None:
    """One event per wamid, per (wamid, status) and per account notice: Meta's duplicates find theirs taken."""
    if isinstance(item, normalizer.Inbound):
        payload, aggregate_type, aggregate_id = item.message, "inbound-message", item.message.wamid
    elif isinstance(item, normalizer.Status):
        payload, aggregate_type = item.status, "message-status"
        aggregate_id = f"{item.status.wamid}:{item.status.status}"
    else:
        payload, aggregate_type, aggregate_id = item.payload, "account-notice", item.key
    try:
        await store.record(session, payload, aggregate_type=aggregate_type, aggregate_id=aggregate_id,
                           expected_version=0, tenant_id=route.tenant_id)
    except ConcurrencyError:
        log.info("duplicate from Meta absorbed", aggregate=f"{aggregate_type}/{aggregate_id}")


async def apply_channel_event(session: AsyncSession, store: EventStore, envelope: Envelope,
                              generic: GenericProcessor | None = None) -> None:
    """Learn who owns a number, then process any webhooks that were waiting for it (or for its WABA)."""
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
    if not data["active"]:
        return
    keys = [number] + ([waba_route_key(payload.waba_id)] if isinstance(payload, ChannelRegistered) else [])
    for key in keys:
        for webhook_id in await repository.take_parked(session, key):
            await process_webhook(session, store, webhook_id, generic)


async def replay(session: AsyncSession, store: EventStore, webhook_ids: list[UUID]) -> int:
    """Publish stored webhooks again as new ``webhook.received`` events; downstream dedup makes it harmless."""
    count = 0
    for record in await repository.get_webhooks(session, webhook_ids):
        version = await store.version_of(session, "webhook", str(record.id))
        payload = parse_json(record.body)
        await store.record(session, WebhookReceived(
            webhook_id=record.id, kind=record.kind, received_at=record.received_at,
            content_sha256=record.content_sha256, size_bytes=record.size_bytes,
            phone_number_ids=normalizer.phone_number_ids(payload),
        ), aggregate_type="webhook", aggregate_id=str(record.id), expected_version=version,
            tenant_id=record.tenant_id)
        await repository.set_webhook_status(session, record.id, "replaying", None, None)
        count += 1
    return count


async def project(session: AsyncSession, envelope: Envelope) -> None:
    """Projector of ingest's own events: only routes are projections (raw webhooks are the source)."""
    if envelope.type == "route.updated":
        data = dict(envelope.data)
        data["tenant_id"] = UUID(str(data["tenant_id"]))
        data["updated_at"] = datetime.fromisoformat(str(data["updated_at"]))
        await repository.upsert_route(session, data)
