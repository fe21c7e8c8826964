"""Revoked sessions and suspended tenants, shared in Valkey so every service refuses their tokens at once.

An access token is valid until it expires; logging out, removing a user or suspending a tenant must take
effect sooner. The gateway writes what it revokes here (``Revocations``); every service that verifies tokens
checks a token's session (``sid``), token (``jti``), user (``sub``) and tenant (``tid``) against it
(``RevocationCheck``), with a small in-process cache so a request costs at most one Valkey round trip per
cache window. Entries of sessions, tokens and users hold the time of the revocation (a token issued later,
say by a re-enabled user's next login, still counts) and live as long as an access token can; a suspended
tenant stays until it is reactivated. Each change is also published on ``CHANNEL`` for those (the realtime hubs)
that must act on it at once.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from parley.kit.errors import DomainError, Forbidden, Unauthorized

PREFIX = "parley:auth:"
CHANNEL = PREFIX + "revocations"
#: Claim -> key prefix: a token is refused when any of its claims' keys exists.
CLAIM_KEYS = {"jti": PREFIX + "revoked-token:", "sid": PREFIX + "revoked-session:",
              "sub": PREFIX + "revoked-user:", "tid": PREFIX + "suspended-tenant:"}
_MAX_CACHED = 50_000


@dataclass(frozen=True)
class Revocation:
    """One published change: ``kind`` is a claim name (``sid``, ``sub``, ``tid``, ``jti``), ``value`` its value."""

    kind: str
    value: str
    active: bool = True  # False: a tenant reactivated

    def encode(self) -> str:
        return json.dumps({"kind": self.kind, "value": self.value, "active": self.active})

    @classmethod
    def decode(cls, raw: str | bytes) -> Revocation | None:
        try:
            data = json.loads(raw)
            return cls(str(data["kind"]), str(data["value"]), bool(data.get("active", True)))
        except (ValueError, KeyError, TypeError):
            return None


def _refuses(kind: str, revoked_at: str | None, issued_at: object) -> bool:
    """A suspended tenant refuses every token; a revocation, the tokens issued up to its second."""
    if revoked_at is None:
        return False
    if kind == "tid":
        return True
    try:
        return int(issued_at) <= int(revoked_at)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return True


class Revocations:
    """The gateway's side: record a revocation and announce it."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def revoke(self, kind: str, value: str, ttl_seconds: int | None) -> None:
        """Refuse tokens with claim ``kind`` = ``value``, issued up to now, for ``ttl_seconds`` (None: until lifted)."""
        if ttl_seconds is not None and ttl_seconds <= 0:
            return
        await self.redis.set(CLAIM_KEYS[kind] + value, str(int(time.time())), ex=ttl_seconds)
        await self.redis.publish(CHANNEL, Revocation(kind, value).encode())

    async def revoke_session(self, session_id: str, ttl_seconds: int) -> None:
        """Every access token of this login session (its ``sid``), for as long as one can live."""
        await self.revoke("sid", session_id, ttl_seconds)

    async def revoke_token(self, jti: str, ttl_seconds: int) -> None:
        await self.revoke("jti", jti, ttl_seconds)

    async def revoke_user(self, user_id: str, ttl_seconds: int) -> None:
        """Every access token of a removed or disabled user."""
        await self.revoke("sub", user_id, ttl_seconds)

    async def suspend_tenant(self, tenant_id: str) -> None:
        """Every token of the tenant, until ``reactivate_tenant``."""
        await self.revoke("tid", tenant_id, None)

    async def ensure_suspended(self, tenant_id: str) -> None:
        """Re-assert a suspension found in the database (Valkey may have lost it); announces nothing."""
        await self.redis.set(CLAIM_KEYS["tid"] + tenant_id, str(int(time.time())), nx=True)

    async def reactivate_tenant(self, tenant_id: str) -> None:
        await self.redis.delete(CLAIM_KEYS["tid"] + tenant_id)
        await self.redis.publish(CHANNEL, Revocation("tid", tenant_id, active=False).encode())


class RevocationUnavailable(DomainError):
    code = "auth_unavailable"
    status_code = 503


class RevocationCheck:
    """A service's side: is this token revoked? Answers from a cache younger than ``cache_seconds``."""

    def __init__(self, redis: Redis, *, cache_seconds: float = 1.0) -> None:
        self.redis = redis
        self.cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, str | None]] = {}

    async def revoked_keys(self, claims: Mapping[str, Any]) -> set[str]:
        """The claims (``sid``, ``jti``, ``sub``, ``tid``) of ``claims`` that are revoked."""
        wanted = {kind: CLAIM_KEYS[kind] + str(claims[kind]) for kind in CLAIM_KEYS if claims.get(kind)}
        now = time.monotonic()
        stale = [key for key in wanted.values()
                 if (cached := self._cache.get(key)) is None or now - cached[0] >= self.cache_seconds]
        if stale:
            try:
                values = await self.redis.mget(stale)
            except Exception as exc:  # noqa: BLE001 - refuse rather than accept a token we cannot check
                raise RevocationUnavailable(f"token revocations cannot be checked: {type(exc).__name__}") from None
            if len(self._cache) > _MAX_CACHED:
                self._cache.clear()
            for key, value in zip(stale, values, strict=True):
                self._cache[key] = (now, value.decode() if isinstance(value, bytes) else value)
        return {kind for kind, key in wanted.items() if _refuses(kind, self._cache[key][1], claims.get("iat"))}

    def forget(self, kind: str, value: str) -> None:
        """Drop a cached answer (a revocation was just written or announced): the next check asks Valkey."""
        self._cache.pop(CLAIM_KEYS[kind] + value, None)

    async def check(self, claims: Mapping[str, Any]) -> None:
        """Forbidden ``tenant_suspended`` or Unauthorized ``token_revoked`` when the token no longer counts."""
        revoked = await self.revoked_keys(claims)
        if "tid" in revoked:
            raise Forbidden("this tenant is suspended", code="tenant_suspended")
        if revoked:
            raise Unauthorized("the access token was revoked (logged out, or the user removed)",
                               code="token_revoked")
