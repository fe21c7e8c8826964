"""Use cases of the sender service for channels: register, verify and store tokens, hold on 190."""

from __future__ import annotations

import base64
from uuid import UUID

import httpx
from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from parley.contracts import Envelope
from parley.contracts.events.channels import ChannelRegistered, ChannelUpdated
from parley.kit.auth import Principal
from parley.kit.crypto import TenantCipher
from parley.kit.errors import Conflict, DomainError, Forbidden, NotFound
from parley.kit.eventstore import ConcurrencyError, EventStore
from parley.sender.graph import GraphClient
from parley.sender.models import Channel, TenantPlan

AGGREGATE = "channel"
TOKEN_SET = "channel.token-set"
THROUGHPUT_SET = "channel.throughput-set"
MANAGERS = frozenset({"owner", "admin"})


class InvalidAccessToken(DomainError):
    code = "invalid_access_token"
    status_code = 422


class NumberNotVerified(DomainError):
    code = "phone_number_not_verified"
    status_code = 422


class GraphUnavailable(DomainError):
    code = "graph_unavailable"
    status_code = 502


def token_context(phone_number_id: str) -> bytes:
    """AES-GCM associated data of a channel's token: a ciphertext only opens for its own number."""
    return phone_number_id.encode()


def require_manager(principal: Principal) -> None:
    if principal.role not in MANAGERS:
        raise Forbidden("only an owner or admin can manage channels")


async def verify_token(graph: GraphClient, phone_number_id: str, access_token: str) -> str | None:
    """Ask the Graph API for the number with this token; returns its verified name."""
    try:
        status, body = await graph.number_details(phone_number_id, access_token)
    except httpx.HTTPError as exc:
        raise GraphUnavailable(f"the Graph API could not be reached to verify the token ({type(exc).__name__})") \
            from None
    if status == 200:
        return body.get("verified_name")
    error = body.get("error") if isinstance(body.get("error"), dict) else {}
    if error.get("code") == 190 or status == 401:
        raise InvalidAccessToken("Meta refused the access token (code 190): it is invalid or expired",
                                 details={"meta_code": error.get("code"), "http_status": status})
    raise NumberNotVerified(f"Meta did not confirm phone number {phone_number_id} for this token: "
                            f"{error.get('message') or f'HTTP {status}'}",
                            details={"meta_code": error.get("code"), "http_status": status})


class PlanLimitExceeded(DomainError):
    code = "plan_limit_exceeded"
    status_code = 403


async def require_number_allowance(session: AsyncSession, tenant_id: UUID) -> None:
    """The tenant's plan caps how many numbers it may connect (``limits.numbers``; no plan known = unlimited)."""
    plan = await session.get(TenantPlan, tenant_id)
    allowed = (plan.limits or {}).get("numbers") if plan is not None else None
    if allowed is None:
        return
    connected = (await session.execute(select(func.count()).select_from(Channel)
                                       .where(Channel.tenant_id == tenant_id))).scalar_one()
    if connected >= allowed:
        raise PlanLimitExceeded(f"the {plan.plan} plan allows {allowed} WhatsApp number(s) and {connected} "
                                f"are connected: upgrade the plan to connect another",
                                details={"limit": "numbers", "allowed": allowed, "current": connected,
                                         "plan": plan.plan})


async def register_channel(session: AsyncSession, store: EventStore, cipher: TenantCipher, tenant_id: UUID,
                           registration: ChannelRegistered, access_token: str) -> None:
    """Connect a number to a tenant (``channel.registered``) and keep its token encrypted."""
    try:
        await store.record(session, registration, aggregate_type=AGGREGATE,
                           aggregate_id=registration.phone_number_id, expected_version=0, tenant_id=tenant_id)
    except ConcurrencyError:
        raise Conflict(f"phone number {registration.phone_number_id} is already registered") from None
    await _store_token(session, store, cipher, tenant_id, registration.phone_number_id, access_token, version=1)


async def replace_token(session: AsyncSession, store: EventStore, cipher: TenantCipher, principal: Principal,
                        phone_number_id: str, access_token: str) -> Channel:
    """A new token for a number (e.g. after 190): stored, and the number's held messages go out again."""
    channel = await get_channel(session, principal.tenant_id, phone_number_id, for_update=True)
    version = await store.version_of(session, AGGREGATE, phone_number_id)
    version = await _store_token(session, store, cipher, channel.tenant_id, phone_number_id, access_token, version)
    if channel.status == "needs_token":
        await store.record(session, ChannelUpdated(phone_number_id=phone_number_id, status="active"),
                           aggregate_type=AGGREGATE, aggregate_id=phone_number_id, expected_version=version,
                           tenant_id=channel.tenant_id)
    return await get_channel(session, principal.tenant_id, phone_number_id)


async def set_throughput(session: AsyncSession, store: EventStore, tenant_id: UUID, phone_number_id: str,
                         per_second: float | None) -> Channel:
    """The number's own send rate (None: back to the service-wide default)."""
    await get_channel(session, tenant_id, phone_number_id, for_update=True)
    version = await store.version_of(session, AGGREGATE, phone_number_id)
    await store.record_internal(session, THROUGHPUT_SET, {"phone_number_id": phone_number_id,
                                                          "throughput_per_second": per_second},
                                aggregate_type=AGGREGATE, aggregate_id=phone_number_id, expected_version=version,
                                tenant_id=tenant_id)
    return await get_channel(session, tenant_id, phone_number_id)


async def _store_token(session: AsyncSession, store: EventStore, cipher: TenantCipher, tenant_id: UUID,
                       phone_number_id: str, access_token: str, version: int) -> int:
    sealed = await cipher.encrypt(session, tenant_id, access_token.encode(), token_context(phone_number_id))
    # Internal event: only ciphertext reaches the event store, so shredding the tenant key shreds it too.
    await store.record_internal(session, TOKEN_SET, {"phone_number_id": phone_number_id,
                                                     "access_token_ciphertext": base64.b64encode(sealed).decode()},
                                aggregate_type=AGGREGATE, aggregate_id=phone_number_id, expected_version=version,
                                tenant_id=tenant_id)
    return version + 1


async def mark_needs_token(session: AsyncSession, store: EventStore, phone_number_id: str) -> bool:
    """Meta said 190: the number waits for a new token (``channel.updated`` status needs_token)."""
    channel = await session.get(Channel, phone_number_id, with_for_update=True)
    if channel is None or channel.status == "needs_token":
        return False
    version = await store.version_of(session, AGGREGATE, phone_number_id)
    await store.record(session, ChannelUpdated(phone_number_id=phone_number_id, status="needs_token"),
                       aggregate_type=AGGREGATE, aggregate_id=phone_number_id, expected_version=version,
                       tenant_id=channel.tenant_id)
    return True


async def get_channel(session: AsyncSession, tenant_id: UUID, phone_number_id: str, *,
                      for_update: bool = False) -> Channel:
    query = select(Channel).where(Channel.phone_number_id == phone_number_id, Channel.tenant_id == tenant_id)
    channel = (await session.execute(query.with_for_update() if for_update else query)).scalar_one_or_none()
    if channel is None:
        raise NotFound(f"phone number {phone_number_id} is not registered to this tenant", code="channel_not_found")
    return channel


async def list_channels(session: AsyncSession, tenant_id: UUID) -> list[Channel]:
    query = select(Channel).where(Channel.tenant_id == tenant_id).order_by(Channel.registered_at,
                                                                          Channel.phone_number_id)
    return list((await session.execute(query)).scalars())


async def access_token(session: AsyncSession, cipher: TenantCipher, channel: Channel) -> str | None:
    if channel.access_token_ciphertext is None:
        return None
    plain = await cipher.decrypt(session, channel.tenant_id, channel.access_token_ciphertext,
                                 token_context(channel.phone_number_id))
    return plain.decode()


async def project(session: AsyncSession, envelope: Envelope) -> None:
    """Channel events into ``channels``."""
    if envelope.type == "channel.registered":
        registered = ChannelRegistered.model_validate(envelope.data)
        await session.execute(insert(Channel).values(
            phone_number_id=registered.phone_number_id, tenant_id=envelope.tenantid, waba_id=registered.waba_id,
            display_phone_number=registered.display_phone_number, verified_name=registered.verified_name,
            status="active", registered_at=envelope.time,
        ))
    elif envelope.type == TOKEN_SET:
        await session.execute(update(Channel).where(Channel.phone_number_id == envelope.data["phone_number_id"])
                              .values(access_token_ciphertext=base64.b64decode(
                                  envelope.data["access_token_ciphertext"])))
    elif envelope.type == THROUGHPUT_SET:
        await session.execute(update(Channel).where(Channel.phone_number_id == envelope.data["phone_number_id"])
                              .values(throughput_per_second=envelope.data["throughput_per_second"]))
    elif envelope.type == "channel.updated":
        updated = ChannelUpdated.model_validate(envelope.data)
        changes = {k: v for k, v in {"status": updated.status, "verified_name": updated.verified_name,
                                     "display_phone_number": updated.display_phone_number,
                                     "paused": updated.paused}.items() if v is not None}
        if updated.paused is not None:
            changes["paused_reason"] = updated.reason if updated.paused else None
        if changes:
            await session.execute(update(Channel).where(Channel.phone_number_id == updated.phone_number_id)
                                  .values(**changes))
