"""The gateway's shared runtime parts: Valkey-backed guards, token issuer, upstreams, settings."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from redis.asyncio import Redis

from parley.gateway import repository
from parley.gateway.idempotency import IdempotencyStore
from parley.gateway.mailer import InvitationMailer
from parley.gateway.models import ApiKey
from parley.gateway.ratelimit import LoginThrottle, RateLimiter
from parley.gateway.settings import GatewaySettings
from parley.gateway.tenant_state import TenantState, TenantStateCache
from parley.gateway.tokens import TokenIssuer
from parley.gateway.upstreams import Upstreams
from parley.kit.db import Database
from parley.kit.errors import Unauthorized
from parley.kit.eventstore import EventStore
from parley.kit.revocation import RevocationCheck, Revocations


def secret_hash(secret: str) -> str:
    """Stored form of a high-entropy secret (API key, refresh or invitation token): its SHA-256."""
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass
class GatewayRuntime:
    settings: GatewaySettings
    issuer: TokenIssuer
    upstreams: Upstreams
    redis: Redis
    db: Database | None = None  # both set once the Service (which owns the engine) exists
    store: EventStore | None = None

    def __post_init__(self) -> None:
        self.limiter = RateLimiter(self.redis)
        self.login_throttle = LoginThrottle(
            self.redis, per_account=self.settings.login_failures_per_account,
            per_address=self.settings.login_failures_per_address,
            window_seconds=self.settings.login_throttle_window_seconds)
        self.tenants = TenantStateCache(self.redis, self._load_tenant,
                                        ttl_seconds=self.settings.tenant_cache_seconds)
        self.idempotency = IdempotencyStore(self.redis)
        self.revocations = Revocations(self.redis)
        self.revocation_check = RevocationCheck(self.redis, cache_seconds=self.settings.revocation_cache_seconds)
        self.mailer = InvitationMailer(self.settings)

    def database(self) -> Database:
        if self.db is None:
            raise RuntimeError("the gateway runtime has no database yet")
        return self.db

    def event_store(self) -> EventStore:
        if self.store is None:
            raise RuntimeError("the gateway runtime has no event store yet")
        return self.store

    async def _load_tenant(self, tenant_id: UUID) -> TenantState | None:
        async with self.database().unit_of_work(tenant_id=tenant_id) as session:
            tenant = await repository.get_tenant(session, tenant_id)
            if tenant is None:
                return None
            state = TenantState(tenant.status, tenant.plan, tuple(tenant.features))
        if state.status == "suspended":  # the services refuse its tokens too, even if Valkey forgot
            await self.revocations.ensure_suspended(str(tenant_id))
        return state

    async def api_key(self, presented: str) -> ApiKey:
        """The live key ``presented`` is; Unauthorized for unknown or revoked keys."""
        # System scope for this one lookup: the key is what tells which tenant the request belongs to.
        async with self.database().unit_of_work(system=True) as session:
            key = await repository.find_api_key(session, secret_hash(presented))
        if key is None or key.revoked_at is not None:
            raise Unauthorized("the API key is invalid or revoked", code="invalid_api_key")
        return key

    async def _revoke(self, kind: str, value: str, ttl_seconds: int) -> None:
        await self.revocations.revoke(kind, value, ttl_seconds)
        self.revocation_check.forget(kind, value)

    async def revoke_session(self, claims: dict[str, Any]) -> None:
        """Refuse this access token, and every other one of its login session, everywhere until they expire."""
        remaining = int(claims["exp"]) - int(datetime.now(UTC).timestamp())
        await self._revoke("jti", str(claims["jti"]), remaining)
        if claims.get("sid"):
            await self.revoke_session_id(str(claims["sid"]))

    async def revoke_session_id(self, session_id: str) -> None:
        """Refuse the access tokens of a login session (a refresh-token family) until the last has expired."""
        await self._revoke("sid", session_id, self.issuer.ttl_seconds)

    async def revoke_user_tokens(self, user_id: UUID) -> None:
        """Refuse every access token of a removed or disabled user until the longest-lived one has expired."""
        await self._revoke("sub", str(user_id), self.issuer.ttl_seconds)

    async def revoke_api_key_tokens(self, api_key_id: UUID, ttl_seconds: int) -> None:
        """Refuse the forwarding tokens minted for a revoked key's requests (their ``sub`` is the key's id)."""
        await self._revoke("sub", str(api_key_id), ttl_seconds)

    async def tenant_status_changed(self, tenant_id: UUID, status: str) -> None:
        """After the change commits: the gateway's cache, every service's check and open sockets follow at once."""
        await self.tenants.invalidate(tenant_id)
        if status == "suspended":
            await self.revocations.suspend_tenant(str(tenant_id))
        else:
            await self.revocations.reactivate_tenant(str(tenant_id))
        self.revocation_check.forget("tid", str(tenant_id))

    async def close(self) -> None:
        await self.redis.aclose()
