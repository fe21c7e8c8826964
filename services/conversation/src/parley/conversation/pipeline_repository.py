"""Queries of the kanban pipeline. Every query is scoped by tenant; positions are 0-based and dense."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import delete, func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from parley.conversation.crm_models import PipelineLead, PipelineStage
from parley.conversation.models import Contact


async def lock_pipeline(session: AsyncSession, tenant_id: UUID) -> None:
    """Serialise a tenant's pipeline writes until commit: two agents' moves never interleave their shifts."""
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
                          {"key": f"pipeline:{tenant_id}"})


async def stage(session: AsyncSession, tenant_id: UUID, stage_id: UUID) -> PipelineStage | None:
    return await session.scalar(select(PipelineStage).where(PipelineStage.tenant_id == tenant_id,
                                                            PipelineStage.id == stage_id)
                                .execution_options(populate_existing=True))


async def stage_named(session: AsyncSession, tenant_id: UUID, name: str) -> PipelineStage | None:
    return await session.scalar(select(PipelineStage).where(PipelineStage.tenant_id == tenant_id,
                                                            func.lower(PipelineStage.name) == name.lower()))


async def stage_count(session: AsyncSession, tenant_id: UUID) -> int:
    return int(await session.scalar(select(func.count()).where(PipelineStage.tenant_id == tenant_id)) or 0)


async def list_stages(session: AsyncSession, tenant_id: UUID, *, limit: int, after: int | None) -> list[PipelineStage]:
    query = select(PipelineStage).where(PipelineStage.tenant_id == tenant_id)
    if after is not None:
        query = query.where(PipelineStage.position > after)
    return list(await session.scalars(query.order_by(PipelineStage.position).limit(limit + 1)))


async def lead(session: AsyncSession, tenant_id: UUID, lead_id: UUID) -> PipelineLead | None:
    return await session.scalar(select(PipelineLead).where(PipelineLead.tenant_id == tenant_id,
                                                           PipelineLead.id == lead_id)
                                .execution_options(populate_existing=True))


async def lead_of_contact(session: AsyncSession, tenant_id: UUID, contact_id: UUID) -> PipelineLead | None:
    return await session.scalar(select(PipelineLead).where(PipelineLead.tenant_id == tenant_id,
                                                           PipelineLead.contact_id == contact_id))


async def lead_count(session: AsyncSession, tenant_id: UUID, stage_id: UUID) -> int:
    return int(await session.scalar(select(func.count()).where(PipelineLead.tenant_id == tenant_id,
                                                               PipelineLead.stage_id == stage_id)) or 0)


async def list_leads(session: AsyncSession, tenant_id: UUID, stage_id: UUID, *, limit: int,
                     after: int | None) -> list[PipelineLead]:
    query = select(PipelineLead).where(PipelineLead.tenant_id == tenant_id, PipelineLead.stage_id == stage_id)
    if after is not None:
        query = query.where(PipelineLead.position > after)
    return list(await session.scalars(query.order_by(PipelineLead.position).limit(limit + 1)))


async def contact(session: AsyncSession, tenant_id: UUID, contact_id: UUID) -> Contact | None:
    return await session.scalar(select(Contact).where(Contact.tenant_id == tenant_id, Contact.id == contact_id))


# -- projection writes (applied by events, also during rebuild) ------------------------------------------------


async def insert_stage(session: AsyncSession, **values: object) -> None:
    tenant_id, position = values["tenant_id"], values["position"]
    await session.execute(update(PipelineStage).where(PipelineStage.tenant_id == tenant_id,
                                                      PipelineStage.position >= position)
                          .values(position=PipelineStage.position + 1))
    await session.execute(insert(PipelineStage).values(**values))


async def place_stage(session: AsyncSession, tenant_id: UUID, stage_id: UUID, name: str, position: int,
                      previous_position: int) -> None:
    stages = PipelineStage.__table__.c
    await session.execute(update(PipelineStage).where(stages.tenant_id == tenant_id,
                                                      stages.position > previous_position)
                          .values(position=stages.position - 1))
    await session.execute(update(PipelineStage).where(stages.tenant_id == tenant_id, stages.position >= position,
                                                      stages.id != stage_id)
                          .values(position=stages.position + 1))
    await session.execute(update(PipelineStage).where(stages.id == stage_id).values(name=name, position=position))


async def remove_stage(session: AsyncSession, tenant_id: UUID, stage_id: UUID, position: int,
                       leads_moved_to: UUID | None) -> None:
    leads = PipelineLead.__table__.c
    if leads_moved_to is not None:
        base = await lead_count(session, tenant_id, leads_moved_to)
        await session.execute(update(PipelineLead).where(leads.stage_id == stage_id)
                              .values(stage_id=leads_moved_to, position=leads.position + base))
    await session.execute(delete(PipelineStage).where(PipelineStage.id == stage_id))
    await session.execute(update(PipelineStage).where(PipelineStage.tenant_id == tenant_id,
                                                      PipelineStage.position > position)
                          .values(position=PipelineStage.position - 1))


async def insert_lead(session: AsyncSession, **values: object) -> None:
    leads = PipelineLead.__table__.c
    await session.execute(update(PipelineLead).where(leads.stage_id == values["stage_id"],
                                                     leads.position >= values["position"])
                          .values(position=leads.position + 1))
    await session.execute(insert(PipelineLead).values(**values))


async def place_lead(session: AsyncSession, lead_id: UUID, *, from_stage_id: UUID, from_position: int,
                     stage_id: UUID, position: int, **values: object) -> None:
    """Take the card out of its old place (closing the gap), open a gap at the new one, put it there."""
    leads = PipelineLead.__table__.c
    await session.execute(update(PipelineLead).where(leads.stage_id == from_stage_id,
                                                     leads.position > from_position)
                          .values(position=leads.position - 1))
    await session.execute(update(PipelineLead).where(leads.stage_id == stage_id, leads.position >= position,
                                                     leads.id != lead_id)
                          .values(position=leads.position + 1))
    await session.execute(update(PipelineLead).where(leads.id == lead_id)
                          .values(stage_id=stage_id, position=position, **values))


async def set_lead(session: AsyncSession, lead_id: UUID, **values: object) -> None:
    await session.execute(update(PipelineLead).where(PipelineLead.id == lead_id).values(**values))
