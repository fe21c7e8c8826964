"""Use cases of the kanban pipeline: ordered stages and one lead card per contact.

Every write takes the tenant's pipeline lock first, so concurrent moves apply one after the other
on fresh positions; all events of a tenant's board form one aggregate (``pipeline/<tenant_id>``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from parley.contracts import Envelope, new_event_id
from parley.contracts.events import pipeline as events
from parley.conversation import pipeline_repository as repository
from parley.conversation.crm_models import PipelineLead, PipelineStage
from parley.conversation.pipeline_schemas import LeadIn, LeadPatch, StageIn, StagePatch
from parley.kit.auth import Principal
from parley.kit.errors import Conflict, DomainError, Forbidden, NotFound
from parley.kit.eventstore import EventStore

STAGE_EDITORS = frozenset({"owner", "admin", "manager"})


async def _record(session: AsyncSession, store: EventStore, tenant_id: UUID, payload: BaseModel) -> None:
    version = await store.version_of(session, "pipeline", str(tenant_id))
    await store.record(session, payload, aggregate_type="pipeline", aggregate_id=str(tenant_id),
                       expected_version=version, tenant_id=tenant_id)


def _require_stage_editor(principal: Principal) -> None:
    if principal.role not in STAGE_EDITORS:
        raise Forbidden("only an owner, admin or manager can change the pipeline's stages")


async def _stage(session: AsyncSession, tenant_id: UUID, stage_id: UUID) -> PipelineStage:
    found = await repository.stage(session, tenant_id, stage_id)
    if found is None:
        raise NotFound("no such pipeline stage")
    return found


async def _lead(session: AsyncSession, tenant_id: UUID, lead_id: UUID) -> PipelineLead:
    found = await repository.lead(session, tenant_id, lead_id)
    if found is None:
        raise NotFound("no such lead")
    return found


async def create_stage(session: AsyncSession, store: EventStore, principal: Principal, body: StageIn) -> PipelineStage:
    _require_stage_editor(principal)
    tenant_id = principal.tenant_id
    await repository.lock_pipeline(session, tenant_id)
    if await repository.stage_named(session, tenant_id, body.name) is not None:
        raise Conflict("a stage with this name exists", code="stage_name_taken")
    count = await repository.stage_count(session, tenant_id)
    stage_id = new_event_id()
    await _record(session, store, tenant_id, events.PipelineStageCreated(
        tenant_id=tenant_id, stage_id=stage_id, name=body.name,
        position=count if body.position is None else min(body.position, count), created_at=datetime.now(UTC)))
    return await _stage(session, tenant_id, stage_id)


async def update_stage(session: AsyncSession, store: EventStore, principal: Principal, stage_id: UUID,
                       body: StagePatch) -> PipelineStage:
    """Rename and/or move a stage; a position past the end puts it last."""
    _require_stage_editor(principal)
    tenant_id = principal.tenant_id
    await repository.lock_pipeline(session, tenant_id)
    stage = await _stage(session, tenant_id, stage_id)
    name = body.name if body.name is not None else stage.name
    if name.lower() != stage.name.lower() and await repository.stage_named(session, tenant_id, name) is not None:
        raise Conflict("a stage with this name exists", code="stage_name_taken")
    last = await repository.stage_count(session, tenant_id) - 1
    position = stage.position if body.position is None else min(body.position, last)
    if (name, position) != (stage.name, stage.position):
        await _record(session, store, tenant_id, events.PipelineStageUpdated(
            tenant_id=tenant_id, stage_id=stage_id, name=name, position=position, previous_position=stage.position))
    return await _stage(session, tenant_id, stage_id)


async def delete_stage(session: AsyncSession, store: EventStore, principal: Principal, stage_id: UUID,
                       move_leads_to: UUID | None) -> None:
    """Delete a stage. One with leads needs ``move_leads_to`` (they are appended there in order), else 409."""
    _require_stage_editor(principal)
    tenant_id = principal.tenant_id
    await repository.lock_pipeline(session, tenant_id)
    stage = await _stage(session, tenant_id, stage_id)
    if move_leads_to == stage_id:
        raise DomainError("leads cannot be moved to the stage being deleted", code="invalid_target_stage")
    if move_leads_to is not None:
        await _stage(session, tenant_id, move_leads_to)
    elif await repository.lead_count(session, tenant_id, stage_id):
        raise Conflict("the stage still has leads: pass move_leads_to=<stage id> to keep them",
                       code="stage_not_empty")
    await _record(session, store, tenant_id, events.PipelineStageDeleted(
        tenant_id=tenant_id, stage_id=stage_id, position=stage.position, leads_moved_to=move_leads_to))


async def create_lead(session: AsyncSession, store: EventStore, principal: Principal, body: LeadIn) -> PipelineLead:
    tenant_id = principal.tenant_id
    await repository.lock_pipeline(session, tenant_id)
    contact = await repository.contact(session, tenant_id, body.contact_id)
    if contact is None:
        raise NotFound("no such contact")
    await _stage(session, tenant_id, body.stage_id)
    if await repository.lead_of_contact(session, tenant_id, body.contact_id) is not None:
        raise Conflict("this contact already has a lead card", code="lead_exists")
    count = await repository.lead_count(session, tenant_id, body.stage_id)
    lead_id = new_event_id()
    await _record(session, store, tenant_id, events.PipelineLeadCreated(
        tenant_id=tenant_id, lead_id=lead_id, contact_id=contact.id, wa_id=contact.wa_id, stage_id=body.stage_id,
        position=count if body.position is None else min(body.position, count), title=body.title, value=body.value,
        currency=body.currency, owner_id=body.owner_id, custom_fields=body.custom_fields,
        created_at=datetime.now(UTC)))
    return await _lead(session, tenant_id, lead_id)


async def list_leads(session: AsyncSession, principal: Principal, stage_id: UUID, *, limit: int,
                     after: int | None) -> list[PipelineLead]:
    await _stage(session, principal.tenant_id, stage_id)
    return await repository.list_leads(session, principal.tenant_id, stage_id, limit=limit, after=after)


async def get_lead(session: AsyncSession, principal: Principal, lead_id: UUID) -> PipelineLead:
    return await _lead(session, principal.tenant_id, lead_id)


async def update_lead(session: AsyncSession, store: EventStore, principal: Principal, lead_id: UUID,
                      patch: LeadPatch) -> PipelineLead:
    """Move the card (``stage_id`` / ``position``, clamped to the stage's end) and/or change its details."""
    tenant_id = principal.tenant_id
    await repository.lock_pipeline(session, tenant_id)
    lead = await _lead(session, tenant_id, lead_id)
    fields = patch.model_fields_set
    if fields & {"stage_id", "position"}:
        await _move(session, store, lead, patch.stage_id or lead.stage_id,
                    lead.position if patch.position is None and patch.stage_id in (None, lead.stage_id)
                    else patch.position)
        lead = await _lead(session, tenant_id, lead_id)
    details = _details(lead, patch)
    if details != _details(lead, LeadPatch()):
        await _record(session, store, tenant_id, events.PipelineLeadUpdated(
            tenant_id=tenant_id, lead_id=lead.id, wa_id=lead.wa_id, stage_id=lead.stage_id, position=lead.position,
            updated_at=datetime.now(UTC), **details))
        lead = await _lead(session, tenant_id, lead_id)
    return lead


async def _move(session: AsyncSession, store: EventStore, lead: PipelineLead, stage_id: UUID,
                position: int | None) -> None:
    tenant_id = lead.tenant_id
    await _stage(session, tenant_id, stage_id)
    count = await repository.lead_count(session, tenant_id, stage_id)
    last = count - 1 if stage_id == lead.stage_id else count
    target = last if position is None else min(position, last)
    if (stage_id, target) == (lead.stage_id, lead.position):
        return
    await _record(session, store, tenant_id, events.PipelineLeadMoved(
        tenant_id=tenant_id, lead_id=lead.id, wa_id=lead.wa_id, stage_id=stage_id, position=target,
        from_stage_id=lead.stage_id, from_position=lead.position, moved_at=datetime.now(UTC)))


def _details(lead: PipelineLead, patch: LeadPatch) -> dict[str, Any]:
    """The card's details after applying ``patch`` (only the fields it sets)."""
    fields = patch.model_fields_set
    details: dict[str, Any] = {name: getattr(patch, name) if name in fields else getattr(lead, name)
                               for name in ("title", "value", "currency", "owner_id")}
    custom = dict(lead.custom_fields)
    for key, value in (patch.custom_fields or {}).items():
        if value is None:
            custom.pop(key, None)
        else:
            custom[key] = value
    details["custom_fields"] = custom
    return details


async def project(session: AsyncSession, envelope: Envelope) -> bool:
    """Apply a pipeline event to the board; False when the event is not a pipeline one."""
    if not envelope.type.startswith("pipeline."):
        return False
    payload, tenant_id = envelope.payload(), envelope.tenantid
    if isinstance(payload, events.PipelineStageCreated):
        await repository.insert_stage(session, id=payload.stage_id, tenant_id=tenant_id, name=payload.name,
                                      position=payload.position, created_at=payload.created_at)
    elif isinstance(payload, events.PipelineStageUpdated):
        await repository.place_stage(session, payload.tenant_id, payload.stage_id, payload.name, payload.position,
                                     payload.previous_position)
    elif isinstance(payload, events.PipelineStageDeleted):
        await repository.remove_stage(session, payload.tenant_id, payload.stage_id, payload.position,
                                      payload.leads_moved_to)
    elif isinstance(payload, events.PipelineLeadCreated):
        await repository.insert_lead(session, **payload.model_dump(exclude={"lead_id"}), id=payload.lead_id,
                                     updated_at=payload.created_at)
    elif isinstance(payload, events.PipelineLeadMoved):
        await repository.place_lead(session, payload.lead_id, from_stage_id=payload.from_stage_id,
                                    from_position=payload.from_position, stage_id=payload.stage_id,
                                    position=payload.position, updated_at=payload.moved_at)
    elif isinstance(payload, events.PipelineLeadUpdated):
        await repository.set_lead(session, payload.lead_id, title=payload.title, value=payload.value,
                                  currency=payload.currency, owner_id=payload.owner_id,
                                  custom_fields=payload.custom_fields, updated_at=payload.updated_at)
    return True
