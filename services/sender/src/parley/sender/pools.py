"""Sender pools: a tenant groups numbers; a message to a pool goes out from one available member.

Pools and their members are event-sourced (internal events, projected into ``pools`` and
``pool_members``). Picking a number: the customer keeps the member they last talked to (sticky
sender) while it can send; otherwise the next healthy member in round robin; otherwise, when no
member is healthy, the next member that can send at all.
"""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from uuid6 import uuid7

from parley.contracts import Envelope
from parley.kit.errors import Conflict, NotFound
from parley.kit.eventstore import EventStore
from parley.sender import service as channels
from parley.sender.health import is_healthy
from parley.sender.models import Channel, ChannelHealth, CustomerContact, Pool, PoolMember

AGGREGATE = "pool"
CREATED, RENAMED, DELETED = "pool.created", "pool.renamed", "pool.deleted"
MEMBER_ADDED, MEMBER_REMOVED = "pool.member-added", "pool.member-removed"
EVENT_TYPES = frozenset({CREATED, RENAMED, DELETED, MEMBER_ADDED, MEMBER_REMOVED})

async def _record(session: AsyncSession, store: EventStore, event_type: str, pool_id: UUID, tenant_id: UUID,
                  data: dict[str, object]) -> None:
    version = await store.version_of(session, AGGREGATE, str(pool_id))
    await store.record_internal(session, event_type, {"pool_id": str(pool_id), **data}, aggregate_type=AGGREGATE,
                                aggregate_id=str(pool_id), expected_version=version, tenant_id=tenant_id)


async def create_pool(session: AsyncSession, store: EventStore, tenant_id: UUID, name: str,
                      phone_number_ids: list[str]) -> Pool:
    """A new pool, with its first members (each must be one of the tenant's numbers)."""
    for phone_number_id in phone_number_ids:
        await channels.get_channel(session, tenant_id, phone_number_id)
    pool_id = uuid7()
    await _record(session, store, CREATED, pool_id, tenant_id, {"name": name})
    for phone_number_id in dict.fromkeys(phone_number_ids):
        await _record(session, store, MEMBER_ADDED, pool_id, tenant_id, {"phone_number_id": phone_number_id})
    return await get_pool(session, tenant_id, pool_id)


async def get_pool(session: AsyncSession, tenant_id: UUID, pool_id: UUID, *, for_update: bool = False) -> Pool:
    query = select(Pool).where(Pool.id == pool_id, Pool.tenant_id == tenant_id)
    pool = (await session.execute(query.with_for_update() if for_update else query)).scalar_one_or_none()
    if pool is None:
        raise NotFound(f"pool {pool_id} does not exist for this tenant", code="pool_not_found")
    return pool


async def list_pools(session: AsyncSession, tenant_id: UUID, limit: int, after: UUID | None) -> list[Pool]:
    query = select(Pool).where(Pool.tenant_id == tenant_id).order_by(Pool.id).limit(limit)
    if after is not None:
        query = query.where(Pool.id > after)
    return list((await session.execute(query)).scalars())


async def members(session: AsyncSession, pool_ids: list[UUID]) -> dict[UUID, list[str]]:
    rows = (await session.execute(select(PoolMember.pool_id, PoolMember.phone_number_id)
                                  .where(PoolMember.pool_id.in_(pool_ids))
                                  .order_by(PoolMember.added_at, PoolMember.phone_number_id))).all()
    found: dict[UUID, list[str]] = {pool_id: [] for pool_id in pool_ids}
    for pool_id, phone_number_id in rows:
        found[pool_id].append(phone_number_id)
    return found


async def rename_pool(session: AsyncSession, store: EventStore, tenant_id: UUID, pool_id: UUID, name: str) -> Pool:
    pool = await get_pool(session, tenant_id, pool_id, for_update=True)
    if pool.name != name:
        await _record(session, store, RENAMED, pool_id, tenant_id, {"name": name})
    return await get_pool(session, tenant_id, pool_id)


async def delete_pool(session: AsyncSession, store: EventStore, tenant_id: UUID, pool_id: UUID) -> None:
    await get_pool(session, tenant_id, pool_id, for_update=True)
    await _record(session, store, DELETED, pool_id, tenant_id, {})


async def add_member(session: AsyncSession, store: EventStore, tenant_id: UUID, pool_id: UUID,
                     phone_number_id: str) -> None:
    await get_pool(session, tenant_id, pool_id, for_update=True)
    await channels.get_channel(session, tenant_id, phone_number_id)
    if await session.get(PoolMember, (pool_id, phone_number_id)) is None:
        await _record(session, store, MEMBER_ADDED, pool_id, tenant_id, {"phone_number_id": phone_number_id})


async def remove_member(session: AsyncSession, store: EventStore, tenant_id: UUID, pool_id: UUID,
                        phone_number_id: str) -> None:
    await get_pool(session, tenant_id, pool_id, for_update=True)
    if await session.get(PoolMember, (pool_id, phone_number_id)) is None:
        raise NotFound(f"phone number {phone_number_id} is not in pool {pool_id}", code="pool_member_not_found")
    await _record(session, store, MEMBER_REMOVED, pool_id, tenant_id, {"phone_number_id": phone_number_id})


class PoolUnavailable(Conflict):
    code = "pool_unavailable"


async def pick_number(session: AsyncSession, tenant_id: UUID, pool_id: UUID, wa_id: str) -> str:
    """The member this customer should hear from; raises NotFound / PoolUnavailable when there is none."""
    pool = await get_pool(session, tenant_id, pool_id, for_update=True)  # the lock orders round-robin turns
    candidates = (await session.execute(
        select(Channel.phone_number_id, ChannelHealth.health_score, ChannelHealth.consecutive_failures,
               CustomerContact.last_inbound_at, CustomerContact.last_outbound_at)
        .join(PoolMember, PoolMember.phone_number_id == Channel.phone_number_id)
        .outerjoin(ChannelHealth, ChannelHealth.phone_number_id == Channel.phone_number_id)
        .outerjoin(CustomerContact, (CustomerContact.phone_number_id == Channel.phone_number_id)
                   & (CustomerContact.tenant_id == tenant_id) & (CustomerContact.wa_id == wa_id))
        .where(PoolMember.pool_id == pool.id, Channel.tenant_id == tenant_id, Channel.status == "active",
               Channel.paused.is_(False))
        .order_by(PoolMember.added_at, Channel.phone_number_id))).all()
    if not candidates:
        raise PoolUnavailable(f"pool {pool_id} has no number that can send (none, or all paused or without a token)")
    talked = [(max(t for t in (c.last_inbound_at, c.last_outbound_at) if t is not None), c.phone_number_id)
              for c in candidates if c.last_inbound_at or c.last_outbound_at]
    if talked:
        return max(talked)[1]
    healthy = [c.phone_number_id for c in candidates
               if is_healthy(c.health_score, c.consecutive_failures)] or [c.phone_number_id for c in candidates]
    turn = pool.turn
    await session.execute(update(Pool).where(Pool.id == pool.id).values(turn=Pool.turn + 1))
    return healthy[turn % len(healthy)]


async def note_outbound(session: AsyncSession, tenant_id: UUID, wa_id: str, phone_number_id: str) -> None:
    """The customer was written to from this number: later pool messages stick to it."""
    now = datetime.now(UTC)
    statement = insert(CustomerContact).values(tenant_id=tenant_id, wa_id=wa_id, phone_number_id=phone_number_id,
                                               last_outbound_at=now)
    await session.execute(statement.on_conflict_do_update(
        index_elements=["tenant_id", "wa_id", "phone_number_id"],
        set_={"last_outbound_at": func.greatest(CustomerContact.last_outbound_at,
                                                statement.excluded.last_outbound_at)}))


async def project(session: AsyncSession, envelope: Envelope) -> None:
    """Pool events into ``pools`` and ``pool_members``."""
    data, pool_id = envelope.data, UUID(envelope.data["pool_id"])
    if envelope.type == CREATED:
        await session.execute(insert(Pool).values(id=pool_id, tenant_id=envelope.tenantid, name=data["name"],
                                                  created_at=envelope.time, turn=0))
    elif envelope.type == RENAMED:
        await session.execute(update(Pool).where(Pool.id == pool_id).values(name=data["name"]))
    elif envelope.type == DELETED:
        await session.execute(delete(PoolMember).where(PoolMember.pool_id == pool_id))
        await session.execute(delete(Pool).where(Pool.id == pool_id))
    elif envelope.type == MEMBER_ADDED:
        await session.execute(insert(PoolMember).values(
            pool_id=pool_id, phone_number_id=data["phone_number_id"], tenant_id=envelope.tenantid,
            added_at=envelope.time).on_conflict_do_nothing())
    elif envelope.type == MEMBER_REMOVED:
        await session.execute(delete(PoolMember).where(PoolMember.pool_id == pool_id,
                                                       PoolMember.phone_number_id == data["phone_number_id"]))
