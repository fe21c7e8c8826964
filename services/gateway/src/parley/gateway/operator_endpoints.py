"""Operator API of the gateway: suspend, reactivate and re-plan tenants (platform staff, not tenants).

Protected by the operator token ``GATEWAY_OPERATOR_TOKEN``; without one configured the API refuses every
request. It lives under ``/admin``, which the Ingress does not route: reach it by port-forward, as ingest's.
Each action is what ``python -m parley.gateway suspend|reactivate|set-plan`` does, and takes effect at once:
the tenant's tokens are refused by every service and its open realtime sockets are closed.
"""

from __future__ import annotations

import hashlib
import hmac
from uuid import UUID

from fastapi import APIRouter, Depends, Request
from pydantic import Field

from parley.gateway import repository, service
from parley.gateway.dependencies import Runtime
from parley.gateway.endpoints import ERRORS
from parley.gateway.runtime import GatewayRuntime
from parley.gateway.schemas import Strict, TenantOut
from parley.gateway.settings import GatewaySettings
from parley.kit.auth import bearer_token
from parley.kit.errors import NotFound, Unauthorized


async def require_operator(request: Request) -> None:
    settings: GatewaySettings = request.app.state.settings
    if settings.operator_token is None:
        raise Unauthorized("the operator API is disabled: GATEWAY_OPERATOR_TOKEN is not set",
                           code="operator_api_disabled")
    presented = hashlib.sha256(bearer_token(request).encode()).digest()
    expected = hashlib.sha256(settings.operator_token.get_secret_value().encode()).digest()
    if not hmac.compare_digest(presented, expected):
        raise Unauthorized("the operator token is not valid", code="invalid_token")


# Not in the public OpenAPI document: tenants' clients have no use for it (documented in docs/operations.md).
router = APIRouter(prefix="/admin/tenants", tags=["operations"], responses=ERRORS, include_in_schema=False,
                   dependencies=[Depends(require_operator)])


class SuspendRequest(Strict):
    reason: str | None = Field(None, max_length=500, description="Recorded on tenant.status-changed")


class PlanRequest(Strict):
    plan: str = Field(max_length=64)


async def _tenant(runtime: GatewayRuntime, tenant_id: UUID) -> TenantOut:
    async with runtime.database().unit_of_work(tenant_id=tenant_id) as session:
        tenant = await repository.get_tenant(session, tenant_id)
    if tenant is None:
        raise NotFound(f"tenant {tenant_id} does not exist", code="tenant_not_found")
    return TenantOut.model_validate(tenant, from_attributes=True)


@router.get("/{tenant_id}", summary="A tenant's plan, limits, features and status")
async def get_tenant(tenant_id: UUID, runtime: Runtime) -> TenantOut:
    return await _tenant(runtime, tenant_id)


@router.post("/{tenant_id}/suspend", summary="Suspend: 403 everywhere at once, sockets closed, webhooks still stored")
async def suspend(tenant_id: UUID, body: SuspendRequest, runtime: Runtime) -> TenantOut:
    return await _change_status(runtime, tenant_id, "suspended", body.reason)


@router.post("/{tenant_id}/reactivate", summary="Reactivate: the tenant's users and keys work again")
async def reactivate(tenant_id: UUID, runtime: Runtime) -> TenantOut:
    return await _change_status(runtime, tenant_id, "active", None)


@router.put("/{tenant_id}/plan", summary="Move the tenant to a plan; its limits and features apply at once")
async def set_plan(tenant_id: UUID, body: PlanRequest, runtime: Runtime) -> TenantOut:
    async with runtime.database().unit_of_work(tenant_id=tenant_id) as session:
        await service.change_plan(session, runtime.event_store(), tenant_id, body.plan)
    await runtime.tenants.invalidate(tenant_id)
    return await _tenant(runtime, tenant_id)


async def _change_status(runtime: GatewayRuntime, tenant_id: UUID, status: str, reason: str | None) -> TenantOut:
    async with runtime.database().unit_of_work(tenant_id=tenant_id) as session:
        await service.change_tenant_status(session, runtime.event_store(), tenant_id, status,  # type: ignore[arg-type]
                                           reason=reason)
    await runtime.tenant_status_changed(tenant_id, status)
    return await _tenant(runtime, tenant_id)

