"""What every request needs to know about its tenant (status, plan, features), cached briefly in Valkey.

The suspend and plan-change actions invalidate the entry, so a change applies on the next request;
the TTL bounds how stale a replica can be if an invalidation is lost.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from uuid import UUID

from redis.asyncio import Redis

from parley.kit.errors import Forbidden, Unauthorized


@dataclass(frozen=True)
class TenantState:
    status: str
    plan: str
    features: tuple[str, ...]


Loader = Callable[[UUID], Awaitable[TenantState | None]]


class TenantStateCache:
    def __init__(self, redis: Redis, load: Loader, *, ttl_seconds: int = 30,
                 prefix: str = "parley:gateway:tenant:") -> None:
        self.redis = redis
        self.load = load
        self.ttl_seconds = ttl_seconds
        self.prefix = prefix

    async def get(self, tenant_id: UUID) -> TenantState | None:
        cached = await self.redis.get(f"{self.prefix}{tenant_id}")
        if cached is not None:
            raw = json.loads(cached)
            return TenantState(raw["status"], raw["plan"], tuple(raw["features"]))
        state = await self.load(tenant_id)
        if state is not None:
            payload = {"status": state.status, "plan": state.plan, "features": list(state.features)}
            await self.redis.set(f"{self.prefix}{tenant_id}", json.dumps(payload), ex=self.ttl_seconds)
        return state

    async def require_active(self, tenant_id: UUID) -> TenantState:
        """The tenant's state; 401 when it no longer exists, 403 ``tenant_suspended`` when suspended."""
        state = await self.get(tenant_id)
        if state is None:
            raise Unauthorized("the token's tenant does not exist", code="invalid_token")
        if state.status != "active":
            raise Forbidden("this tenant is suspended", code="tenant_suspended")
        return state

    async def invalidate(self, tenant_id: UUID) -> None:
        await self.redis.delete(f"{self.prefix}{tenant_id}")
