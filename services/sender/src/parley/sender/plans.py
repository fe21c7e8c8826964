"""Tenants' plan limits as the gateway publishes them (``tenant.changed``), and what they mean for sending."""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from parley.contracts import Envelope
from parley.contracts.events.tenants import PlanLimits, TenantCreated, TenantPlanChanged
from parley.sender.limits import Quotas
from parley.sender.models import TenantPlan

EVENT_TYPES = frozenset({"tenant.created", "tenant.plan-changed"})


async def apply_tenant_event(session: AsyncSession, envelope: Envelope) -> None:
    """Keep the newest plan per tenant: an older event arriving late never overwrites a newer one."""
    if envelope.type == "tenant.created":
        created = TenantCreated.model_validate(envelope.data)
        if created.limits is None:
            return  # no limits published: unlimited (no row)
        tenant_id, plan, limits = created.tenant_id, created.plan, created.limits
    elif envelope.type == "tenant.plan-changed":
        changed = TenantPlanChanged.model_validate(envelope.data)
        tenant_id, plan, limits = changed.tenant_id, changed.plan, changed.limits
    else:
        return
    statement = insert(TenantPlan).values(tenant_id=tenant_id, plan=plan, as_of=envelope.time,
                                          limits=limits.model_dump(mode="json"))
    await session.execute(statement.on_conflict_do_update(
        index_elements=["tenant_id"],
        set_={"plan": statement.excluded.plan, "limits": statement.excluded.limits, "as_of": statement.excluded.as_of},
        where=TenantPlan.as_of < statement.excluded.as_of))


async def quotas_of(session: AsyncSession, tenant_ids: Iterable[UUID]) -> dict[UUID, Quotas]:
    """Send quotas of these tenants (missing: unlimited)."""
    ids = set(tenant_ids)
    if not ids:
        return {}
    rows = (await session.execute(select(TenantPlan.tenant_id, TenantPlan.limits)
                                  .where(TenantPlan.tenant_id.in_(ids)))).all()
    quotas = {}
    for tenant_id, raw in rows:
        limits = PlanLimits.model_validate(raw)
        quotas[tenant_id] = Quotas(limits.messages_per_minute, limits.messages_per_hour, limits.messages_per_day)
    return quotas
