"""Sender pools over HTTP (``/v1/pools``, JWT): create, list, rename, delete, add and remove numbers."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Response
from sqlalchemy.ext.asyncio import AsyncSession

from parley.kit.auth import CurrentPrincipal
from parley.kit.pagination import InvalidCursor, Page, PageInfo, decode_cursor, encode_cursor
from parley.kit.service import CurrentService, TenantSession
from parley.sender import pools, service
from parley.sender.models import Pool
from parley.sender.schemas import PoolChange, PoolCreate, PoolOut

router = APIRouter(tags=["pools"])


async def _out(session: AsyncSession, found: list[Pool]) -> list[PoolOut]:
    members = await pools.members(session, [p.id for p in found])
    return [PoolOut(id=p.id, name=p.name, phone_number_ids=members[p.id], created_at=p.created_at) for p in found]


@router.post("/v1/pools", status_code=201, response_model=PoolOut,
             summary="Group numbers into a pool; messages to the pool go out from a healthy member")
async def create_pool(body: PoolCreate, principal: CurrentPrincipal, session: TenantSession,
                      service_: CurrentService) -> PoolOut:
    service.require_manager(principal)
    pool = await pools.create_pool(session, service_.store, principal.tenant_id, body.name, body.phone_number_ids)
    return (await _out(session, [pool]))[0]


@router.get("/v1/pools", response_model=Page[PoolOut], summary="The tenant's pools with their numbers")
async def list_pools(principal: CurrentPrincipal, session: TenantSession,
                     limit: Annotated[int, Query(ge=1, le=200)] = 50,
                     cursor: str | None = None) -> Page[PoolOut]:
    after = None
    if cursor is not None:
        try:
            after = UUID(decode_cursor(cursor, 1)[0])
        except ValueError:
            raise InvalidCursor("the cursor is not one this API issued") from None
    found = await pools.list_pools(session, principal.tenant_id, limit + 1, after)
    page, has_more = found[:limit], len(found) > limit
    return Page(data=await _out(session, page), pagination=PageInfo(
        limit=limit, has_more=has_more, next_cursor=encode_cursor(page[-1].id) if has_more else None))


@router.get("/v1/pools/{pool_id}", response_model=PoolOut, summary="One pool and its numbers")
async def get_pool(pool_id: UUID, principal: CurrentPrincipal, session: TenantSession) -> PoolOut:
    return (await _out(session, [await pools.get_pool(session, principal.tenant_id, pool_id)]))[0]


@router.patch("/v1/pools/{pool_id}", response_model=PoolOut, summary="Rename a pool")
async def rename_pool(pool_id: UUID, body: PoolChange, principal: CurrentPrincipal, session: TenantSession,
                      service_: CurrentService) -> PoolOut:
    service.require_manager(principal)
    pool = await pools.rename_pool(session, service_.store, principal.tenant_id, pool_id, body.name)
    return (await _out(session, [pool]))[0]


@router.delete("/v1/pools/{pool_id}", status_code=204, summary="Delete a pool (its numbers stay connected)")
async def delete_pool(pool_id: UUID, principal: CurrentPrincipal, session: TenantSession,
                      service_: CurrentService) -> Response:
    service.require_manager(principal)
    await pools.delete_pool(session, service_.store, principal.tenant_id, pool_id)
    return Response(status_code=204)


@router.put("/v1/pools/{pool_id}/members/{phone_number_id}", response_model=PoolOut,
            summary="Add one of the tenant's numbers to a pool (idempotent)")
async def add_member(pool_id: UUID, phone_number_id: str, principal: CurrentPrincipal, session: TenantSession,
                     service_: CurrentService) -> PoolOut:
    service.require_manager(principal)
    await pools.add_member(session, service_.store, principal.tenant_id, pool_id, phone_number_id)
    return (await _out(session, [await pools.get_pool(session, principal.tenant_id, pool_id)]))[0]


@router.delete("/v1/pools/{pool_id}/members/{phone_number_id}", response_model=PoolOut,
               summary="Take a number out of a pool")
async def remove_member(pool_id: UUID, phone_number_id: str, principal: CurrentPrincipal, session: TenantSession,
                        service_: CurrentService) -> PoolOut:
    service.require_manager(principal)
    await pools.remove_member(session, service_.store, principal.tenant_id, pool_id, phone_number_id)
    return (await _out(session, [await pools.get_pool(session, principal.tenant_id, pool_id)]))[0]
