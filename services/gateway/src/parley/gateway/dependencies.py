"""FastAPI dependencies of the gateway: its runtime and the caller's verified, authorised identity."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from parley.gateway.access import API_KEY_ROLE, Grant
from parley.gateway.runtime import GatewayRuntime
from parley.gateway.tenant_state import TenantState
from parley.gateway.tokens import TokenIssuer
from parley.gateway.upstreams import Upstreams
from parley.kit.auth import Principal, bearer_token

API_KEY_PREFIX = "pk_"
#: Tokens the gateway mints to forward an API key's request live just long enough for that request.
FORWARDING_TOKEN_SECONDS = 120


@dataclass(frozen=True)
class Caller:
    """An authenticated request: who, what their credential grants, their tenant, what to forward."""

    principal: Principal
    grant: Grant
    tenant: TenantState
    authorization: str
    claims: dict[str, Any] | None = None  # a user's access token claims (None for API keys)

    @property
    def is_api_key(self) -> bool:
        return self.claims is None


async def get_runtime(request: Request) -> GatewayRuntime:
    return request.app.state.gateway


async def get_token_issuer(request: Request) -> TokenIssuer:
    return request.app.state.gateway.issuer


async def get_upstreams(request: Request) -> Upstreams:
    return request.app.state.gateway.upstreams


async def _api_key_caller(runtime: GatewayRuntime, presented: str) -> Caller:
    key = await runtime.api_key(presented)
    tenant = await runtime.tenants.require_active(key.tenant_id)
    per_minute = key.rate_per_minute or runtime.settings.api_key_rate_per_minute
    await runtime.limiter.check(f"key:{key.id}", per_minute=per_minute,
                                burst=max(1, min(per_minute, runtime.settings.api_key_rate_burst)), what="API key")
    principal = Principal(tenant_id=key.tenant_id, user_id=key.id, role=API_KEY_ROLE)
    minted = runtime.issuer.issue(user_id=key.id, tenant_id=key.tenant_id, role=API_KEY_ROLE,
                                  ttl_seconds=FORWARDING_TOKEN_SECONDS, extra={"akid": str(key.id)})
    return Caller(principal, Grant(frozenset(key.scopes)), tenant, f"Bearer {minted}")


async def authenticated(request: Request, runtime: Annotated[GatewayRuntime, Depends(get_runtime)]) -> Caller:
    """The gateway checks every credential itself, so unauthenticated requests never reach a service.

    Then the tenant (403 ``tenant_suspended``) and the tenant's request budget (429 ``rate_limited``).
    """
    token = bearer_token(request)
    if token.startswith(API_KEY_PREFIX):
        caller = await _api_key_caller(runtime, token)
    else:
        claims = runtime.issuer.claims(token)
        await runtime.revocation_check.check(claims)
        principal = runtime.issuer.principal(claims)
        tenant = await runtime.tenants.require_active(principal.tenant_id)
        caller = Caller(principal, Grant(), tenant, f"Bearer {token}", claims)
    settings = runtime.settings
    await runtime.limiter.check(f"tenant:{caller.principal.tenant_id}", per_minute=settings.tenant_rate_per_minute,
                                burst=settings.tenant_rate_burst, what="tenant")
    return caller


async def caller_unit_of_work(request: Request, caller: Annotated[Caller, Depends(authenticated)]
                              ) -> AsyncIterator[AsyncSession]:
    """The request's transaction, scoped to the authenticated caller's tenant (row-level security)."""
    async with request.app.state.service.db.unit_of_work(tenant_id=caller.principal.tenant_id) as session:
        yield session


Runtime = Annotated[GatewayRuntime, Depends(get_runtime)]
Issuer = Annotated[TokenIssuer, Depends(get_token_issuer)]
UpstreamServices = Annotated[Upstreams, Depends(get_upstreams)]
AuthenticatedCaller = Annotated[Caller, Depends(authenticated)]
# scope="function": committed before the response is sent, as the kit's Session.
CallerSession = Annotated[AsyncSession, Depends(caller_unit_of_work, scope="function")]
