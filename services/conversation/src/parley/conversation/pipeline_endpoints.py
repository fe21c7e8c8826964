"""Kanban pipeline API (`/v1/pipeline`): stages and lead cards of the caller's tenant."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Response

from parley.conversation import pipeline, pipeline_repository
from parley.conversation.pipeline_schemas import LeadIn, LeadOut, LeadPatch, StageIn, StageOut, StagePatch
from parley.kit.auth import CurrentPrincipal
from parley.kit.pagination import InvalidCursor, Page, PageInfo, decode_cursor, encode_cursor
from parley.kit.service import CurrentService, TenantSession

router = APIRouter(prefix="/v1/pipeline", tags=["pipeline"])

Limit = Annotated[int, Query(ge=1, le=200)]


def _position_after(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    [position] = decode_cursor(cursor, 1)
    if not position.isdigit():
        raise InvalidCursor("the cursor is not one this API issued")
    return int(position)


def _page(rows: list, limit: int, model: type) -> Page:
    page = rows[:limit]
    next_cursor = encode_cursor(page[-1].position) if len(rows) > limit else None
    return Page(data=[model.model_validate(row) for row in page],
                pagination=PageInfo(limit=limit, has_more=next_cursor is not None, next_cursor=next_cursor))


@router.get("/stages", response_model=Page[StageOut], summary="The tenant's stages in board order")
async def list_stages(principal: CurrentPrincipal, session: TenantSession, limit: Limit = 50,
                      cursor: str | None = None) -> Page[StageOut]:
    rows = await pipeline_repository.list_stages(session, principal.tenant_id, limit=limit,
                                                 after=_position_after(cursor))
    return _page(rows, limit, StageOut)


@router.post("/stages", response_model=StageOut, status_code=201, summary="Add a stage (at the end by default)")
async def create_stage(body: StageIn, principal: CurrentPrincipal, session: TenantSession,
                       service: CurrentService) -> StageOut:
    return StageOut.model_validate(await pipeline.create_stage(session, service.store, principal, body))


@router.patch("/stages/{stage_id}", response_model=StageOut, summary="Rename and/or move a stage")
async def update_stage(stage_id: UUID, body: StagePatch, principal: CurrentPrincipal, session: TenantSession,
                       service: CurrentService) -> StageOut:
    return StageOut.model_validate(await pipeline.update_stage(session, service.store, principal, stage_id, body))


@router.delete("/stages/{stage_id}", status_code=204,
               summary="Delete a stage; one with leads needs `move_leads_to` (else 409 stage_not_empty)")
async def delete_stage(stage_id: UUID, principal: CurrentPrincipal, session: TenantSession, service: CurrentService,
                       move_leads_to: UUID | None = None) -> Response:
    await pipeline.delete_stage(session, service.store, principal, stage_id, move_leads_to)
    return Response(status_code=204)


@router.get("/leads", response_model=Page[LeadOut], summary="A stage's lead cards in board order")
async def list_leads(stage_id: UUID, principal: CurrentPrincipal, session: TenantSession, limit: Limit = 50,
                     cursor: str | None = None) -> Page[LeadOut]:
    rows = await pipeline.list_leads(session, principal, stage_id, limit=limit, after=_position_after(cursor))
    return _page(rows, limit, LeadOut)


@router.post("/leads", response_model=LeadOut, status_code=201, summary="Give a contact a lead card")
async def create_lead(body: LeadIn, principal: CurrentPrincipal, session: TenantSession,
                      service: CurrentService) -> LeadOut:
    return LeadOut.model_validate(await pipeline.create_lead(session, service.store, principal, body))


@router.get("/leads/{lead_id}", response_model=LeadOut, summary="One lead card")
async def get_lead(lead_id: UUID, principal: CurrentPrincipal, session: TenantSession) -> LeadOut:
    return LeadOut.model_validate(await pipeline.get_lead(session, principal, lead_id))


@router.patch("/leads/{lead_id}", response_model=LeadOut,
              summary="Move a card (stage_id, position) and/or change its value, owner, title, custom fields")
async def update_lead(lead_id: UUID, body: LeadPatch, principal: CurrentPrincipal, session: TenantSession,
                      service: CurrentService) -> LeadOut:
    return LeadOut.model_validate(await pipeline.update_lead(session, service.store, principal, lead_id, body))
