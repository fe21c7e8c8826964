"""Opt-outs (`/v1/opt-outs`, with the keyword configuration) and the blocklist (`/v1/blocklist`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from parley.conversation import consent, consent_repository
from parley.conversation.consent_schemas import (
    BlockedOut,
    BlockIn,
    KeywordsIn,
    KeywordsOut,
    OptOutIn,
    OptOutOut,
    WaId,
)
from parley.kit.auth import CurrentPrincipal
from parley.kit.pagination import InvalidCursor, Page, PageInfo, decode_cursor, encode_cursor
from parley.kit.service import CurrentService, TenantSession

opt_outs = APIRouter(prefix="/v1/opt-outs", tags=["opt-outs"])
blocklist = APIRouter(prefix="/v1/blocklist", tags=["blocklist"])

Limit = Annotated[int, Query(ge=1, le=200)]
WaIdPath = Annotated[WaId, Path(description="The customer's number, digits (a leading + is accepted)")]


def _after(cursor: str | None) -> tuple[datetime, str] | None:
    if cursor is None:
        return None
    at, wa_id = decode_cursor(cursor, 2)
    try:
        return datetime.fromisoformat(at), wa_id
    except ValueError:
        raise InvalidCursor("the cursor is not one this API issued") from None


def _info(rows: list, limit: int, at: str) -> PageInfo:
    last = rows[limit - 1] if len(rows) > limit else None
    next_cursor = encode_cursor(getattr(last, at).isoformat(), last.wa_id) if last is not None else None
    return PageInfo(limit=limit, has_more=next_cursor is not None, next_cursor=next_cursor)


@opt_outs.get("/keywords", response_model=KeywordsOut, summary="The tenant's opt-out and opt-in keywords")
async def get_keywords(principal: CurrentPrincipal, session: TenantSession) -> KeywordsOut:
    return await consent.get_keywords(session, principal.tenant_id)


@opt_outs.put("/keywords", response_model=KeywordsOut,
              summary="Replace the keywords (compared case- and accent-insensitively with the whole message)")
async def put_keywords(body: KeywordsIn, principal: CurrentPrincipal, session: TenantSession,
                       service: CurrentService) -> KeywordsOut:
    return await consent.set_keywords(session, service.store, principal, body)


@opt_outs.get("", response_model=Page[OptOutOut], summary="Customers who opted out, most recent first")
async def list_opt_outs(principal: CurrentPrincipal, session: TenantSession, limit: Limit = 50,
                        cursor: str | None = None) -> Page[OptOutOut]:
    rows = await consent_repository.list_opted_out(session, principal.tenant_id, limit=limit, after=_after(cursor))
    return Page(data=[OptOutOut.model_validate(r) for r in rows[:limit]], pagination=_info(rows, limit, "changed_at"))


@opt_outs.post("", response_model=OptOutOut, status_code=201, summary="Record that a customer opted out")
async def post_opt_out(body: OptOutIn, principal: CurrentPrincipal, session: TenantSession,
                       service: CurrentService) -> OptOutOut:
    return OptOutOut.model_validate(await consent.opt_out(session, service.store, principal, body))


@opt_outs.delete("/{wa_id}", status_code=204, summary="Opt a customer back in")
async def delete_opt_out(wa_id: WaIdPath, principal: CurrentPrincipal, session: TenantSession,
                         service: CurrentService) -> Response:
    await consent.opt_in(session, service.store, principal, wa_id)
    return Response(status_code=204)


@blocklist.get("", response_model=Page[BlockedOut], summary="Blocked numbers, most recent first")
async def list_blocked(principal: CurrentPrincipal, session: TenantSession, limit: Limit = 50,
                       cursor: str | None = None) -> Page[BlockedOut]:
    rows = await consent_repository.list_blocked(session, principal.tenant_id, limit=limit, after=_after(cursor))
    return Page(data=[BlockedOut.model_validate(r) for r in rows[:limit]], pagination=_info(rows, limit, "blocked_at"))


@blocklist.post("", response_model=BlockedOut, status_code=201, summary="Block a number (409 when already blocked)")
async def post_block(body: BlockIn, principal: CurrentPrincipal, session: TenantSession,
                     service: CurrentService) -> BlockedOut:
    return BlockedOut.model_validate(await consent.block(session, service.store, principal, body))


@blocklist.delete("/{wa_id}", status_code=204, summary="Unblock a number")
async def delete_block(wa_id: WaIdPath, principal: CurrentPrincipal, session: TenantSession,
                       service: CurrentService) -> Response:
    await consent.unblock(session, service.store, principal, wa_id)
    return Response(status_code=204)
