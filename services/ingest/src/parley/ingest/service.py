"""Use cases of ingest: normalize and route stored webhooks, learn routes, replay."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from parley.contracts import Envelope
from parley.contracts.events.channels import ChannelDeregistered, ChannelRegistered, ChannelUpdated
from parley.contracts.events.webhooks import WebhookReceived
from parley.ingest import normalizer, repository
from parley.ingest.models import ChannelRoute, WebhookRecord
from parley.kit.eventstore import Append, EventStore
from parley.kit.telemetry import get_logger

log = get_logger(__name__)

#: Webhooks normalized between two yields to the event loop (ingest's API may share the process).
YIELD_EVERY = 32

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
    return (await process_webhooks(session, store, [webhook_id], generic))[webhook_id]


async def process_webhooks(session: AsyncSession, store: EventStore, webhook_ids: list[UUID],
                           generic: GenericProcessor | None = None,
                           traceparents: Mapping[UUID, str | None] | None = None) -> dict[UUID, str]:
    """Normalize stored webhooks together into routed events; returns each webhook's new status.

    One read of the raw bodies, one route lookup, one append for every event (Meta's duplicates, stored
    before or earlier in the batch, are skipped) and one status update per outcome, whatever the count.
    Generic hook deliveries are rare: each goes through ``generic`` on its own. A webhook's events continue
    the trace in ``traceparents`` (its webhook.received's), else the current span's.
    """
    webhook_ids = list(dict.fromkeys(webhook_ids))
    raw = await repository.raw_webhooks(session, webhook_ids)
    missing = [str(webhook_id) for webhook_id in webhook_ids if webhook_id not in raw]
    if missing:
        raise LookupError(f"webhook {', '.join(missing)} is not stored")
    statuses: dict[UUID, str] = {}
    normalized: list[tuple[UUID, list[normalizer.Item]]] = []
    for index, webhook_id in enumerate(webhook_ids):
        if index and index % YIELD_EVERY == 0:  # a full batch parses for ~100 ms: let requests through meanwhile
            await asyncio.sleep(0)
        kind, body = raw[webhook_id]
        if kind != "whatsapp":
            statuses[webhook_id] = await _process_generic(session, store, webhook_id, generic)
            continue
        try:
            normalized.append((webhook_id, normalizer.normalize(parse_json(body), webhook_id)))
        except normalizer.Unreadable as exc:
            statuses[webhook_id] = await _quarantine(session, webhook_id, str(exc))
    statuses.update(await _route_all(session, store, normalized, traceparents or {}))
    return {webhook_id: statuses[webhook_id] for webhook_id in webhook_ids}


async def _process_generic(session: AsyncSession, store: EventStore, webhook_id: UUID,
                           generic: GenericProcessor | None) -> str:
    record = await repository.get_webhook(session, webhook_id)
    assert record is not None  # read in this transaction a moment ago
    if generic is None:
        return await _quarantine(session, webhook_id, f"no processor for {record.kind} webhooks")
    try:
        return await generic(session, store, record)
    except normalizer.Unreadable as exc:
        return await _quarantine(session, webhook_id, str(exc))


async def _quarantine(session: AsyncSession, webhook_id: UUID, reason: str) -> str:
    await repository.set_webhook_statuses(session, [webhook_id], "quarantined", reason[:2000], datetime.now(UTC))
    log.warning("webhook quarantined", webhook_id=str(webhook_id), reason=reason[:300])
    return "quarantined"


async def _route_all(session: AsyncSession, store: EventStore, normalized: list[tuple[UUID, list[normalizer.Item]]],
                     traceparents: Mapping[UUID, str | None]) -> dict[UUID, str]:
    """Emit every item whose number (or WABA) has an active channel; park each webhook on the keys still unrouted."""
    items = [item for _, webhook_items in normalized for item in webhook_items]
    routes, wabas = await repository.routes_for_numbers_and_wabas(
        session, sorted({i.phone_number_id for i in items if not isinstance(i, normalizer.AccountNotice)}),
        sorted({i.waba_id for i in items if isinstance(i, normalizer.AccountNotice)}))
    appends: dict[tuple[str, str], Append] = {}  # first of each aggregate only: Meta repeats itself in one batch too
    parked: list[tuple[UUID, str]] = []
    statuses: dict[UUID, str] = {}
    for webhook_id, webhook_items in normalized:
        unrouted: set[str] = set()
        for item in webhook_items:
            if isinstance(item, normalizer.AccountNotice):
                route, key = wabas.get(item.waba_id), waba_route_key(item.waba_id)
            else:
                route, key = routes.get(item.phone_number_id), item.phone_number_id
            if route is None or not route.active:
                unrouted.add(key)
                continue
            append = _append(item, route, traceparents.get(webhook_id))
            appends.setdefault((append.aggregate_type, append.aggregate_id), append)
        parked += [(webhook_id, key) for key in sorted(unrouted)]
        statuses[webhook_id] = "parked" if unrouted else "processed"
    stored = await store.record_new(session, list(appends.values()))
    if len(stored) < len(appends):
        log.info("duplicates from Meta absorbed", duplicates=len(appends) - len(stored))
    await repository.park_many(session, parked)
    await _set_statuses(session, statuses, parked)
    return statuses


async def _set_statuses(session: AsyncSession, statuses: dict[UUID, str], parked: list[tuple[UUID, str]]) -> None:
    """One update for every processed webhook; parked ones carry their own reason (the keys they wait for)."""
    now = datetime.now(UTC)
    await repository.set_webhook_statuses(session, [w for w, status in statuses.items() if status == "processed"],
                                          "processed", None, now)
    waiting: dict[UUID, list[str]] = {}
    for webhook_id, key in parked:
        waiting.setdefault(webhook_id, []).append(key)
    for webhook_id, keys in waiting.items():
        await repository.set_webhook_statuses(session, [webhook_id], "parked",
                                              f"waiting for a channel: {', '.join(keys)}", now)


def _append(item: normalizer.Item, route: ChannelRoute, traceparent: str | None) -> Append:
    """One event per wamid, per (wamid, status) and per account notice: Meta's duplicates find theirs taken."""
    if isinstance(item, normalizer.Inbound):
        return Append(item.message, "inbound-message", item.message.wamid, 0, route.tenant_id,
                      traceparent=traceparent)
    if isinstance(item, normalizer.Status):
        return Append(item.status, "message-status", f"{item.status.wamid}:{item.status.status}", 0, route.tenant_id,
                      traceparent=traceparent)
    return Append(item.payload, "account-notice", item.key, 0, route.tenant_id, traceparent=traceparent)


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
    waiting = [webhook_id for key in keys for webhook_id in await repository.take_parked(session, key)]
    if waiting:
        await process_webhooks(session, store, waiting, generic)


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
