"""Signing up, logging in, refreshing and logging out: access tokens plus rotating refresh tokens.

Each login starts a refresh-token family. A refresh token is used once: refreshing marks it used and
issues its successor in the same family. Presenting a used (or revoked) token again means it leaked,
so the whole family is revoked and everyone holding it must log in again.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from parley.gateway import repository, service
from parley.gateway.models import User
from parley.gateway.passwords import verify_password
from parley.gateway.runtime import secret_hash
from parley.gateway.scopes import across_tenants
from parley.gateway.tokens import TokenIssuer
from parley.kit import rls
from parley.kit.errors import Conflict, Forbidden, Unauthorized
from parley.kit.eventstore import EventStore

REFRESH_TOKEN_PREFIX = "rt_"


@dataclass(frozen=True)
class SessionTokens:
    access_token: str
    expires_in: int
    refresh_token: str
    refresh_expires_in: int


class RefreshTokenReused(Unauthorized):
    """A used or revoked refresh token came back: the caller revokes its family (after this rollback)."""

    code = "refresh_token_reused"

    def __init__(self, tenant_id: UUID, family_id: UUID) -> None:
        super().__init__("this refresh token was already used; the session is revoked, log in again")
        self.tenant_id = tenant_id
        self.family_id = family_id


async def _start_or_continue(session: AsyncSession, issuer: TokenIssuer, user: User, *, ttl_seconds: int,
                             family_id: UUID | None = None) -> SessionTokens:
    now, family_id = datetime.now(UTC), family_id or uuid.uuid4()
    refresh = REFRESH_TOKEN_PREFIX + secrets.token_urlsafe(32)
    await repository.insert_refresh_token(session, token_id=uuid.uuid4(), family_id=family_id,
                                          tenant_id=user.tenant_id, user_id=user.id, token_hash=secret_hash(refresh),
                                          expires_at=now + timedelta(seconds=ttl_seconds), now=now)
    # ``sid``: the session (refresh-token family), so revoking it refuses all its access tokens everywhere.
    access = issuer.issue(user_id=user.id, tenant_id=user.tenant_id, role=user.role, now=now,
                          extra={"sid": str(family_id)})
    return SessionTokens(access, issuer.ttl_seconds, refresh, ttl_seconds)


async def signup(session: AsyncSession, store: EventStore, issuer: TokenIssuer, *, tenant_name: str, email: str,
                 password: str, plan: str, refresh_ttl_seconds: int) -> SessionTokens:
    """A new tenant on ``plan`` with its owner, logged in."""
    email = service.validate_email(email)
    if await repository.find_user_by_email_in_any_tenant(session, email) is not None:
        raise Conflict("a user with this e-mail already exists", code="email_taken")
    tenant_id = uuid.uuid4()
    await rls.scope_to_tenant(session, tenant_id)  # everything else happens in the new tenant only
    await service.create_tenant(session, store, name=tenant_name, plan=plan, tenant_id=tenant_id)
    user_id = await service.create_user(session, store, tenant_id=tenant_id, email=email, password=password,
                                        role="owner")
    user = await service.get_user(session, tenant_id, user_id)
    return await _start_or_continue(session, issuer, user, ttl_seconds=refresh_ttl_seconds)


async def authenticate(session: AsyncSession, *, email: str, password: str) -> User:
    """The active user with these credentials; 401 otherwise, 403 when their tenant is suspended.

    The rest of the transaction is scoped to the user's tenant.
    """
    async with across_tenants(session):  # the e-mail is what tells which tenant this login belongs to
        found = await repository.find_login(session, service.normalize_email(email))
    user, tenant = found if found is not None else (None, None)
    password_matches = await verify_password(user.password_hash if user else None, password)
    if user is None or tenant is None or not password_matches or user.status != "active":
        raise Unauthorized("the e-mail or password is incorrect", code="invalid_credentials")
    if tenant.status != "active":
        raise Forbidden("this tenant is suspended", code="tenant_suspended")
    await rls.scope_to_tenant(session, user.tenant_id)
    return user


async def login(session: AsyncSession, issuer: TokenIssuer, user: User, *, refresh_ttl_seconds: int) -> SessionTokens:
    return await _start_or_continue(session, issuer, user, ttl_seconds=refresh_ttl_seconds)


async def refresh(session: AsyncSession, issuer: TokenIssuer, presented: str, *,
                  refresh_ttl_seconds: int) -> SessionTokens:
    """Exchange a refresh token for new tokens; RefreshTokenReused when it was used before.

    The rest of the transaction is scoped to the token's tenant.
    """
    async with across_tenants(session):  # the token is what tells which tenant this refresh belongs to
        token = await repository.claim_refresh_token(session, secret_hash(presented))
    now = datetime.now(UTC)
    if token is None:
        raise Unauthorized("the refresh token is invalid", code="invalid_refresh_token")
    await rls.scope_to_tenant(session, token.tenant_id)
    if token.used_at is not None or token.revoked_at is not None:
        raise RefreshTokenReused(token.tenant_id, token.family_id)
    if token.expires_at <= now:
        raise Unauthorized("the refresh token has expired", code="refresh_token_expired")
    tenant = await repository.get_tenant(session, token.tenant_id)
    user = await repository.get_user(session, token.tenant_id, token.user_id)
    if user is None or user.status != "active":
        raise Unauthorized("the refresh token is invalid", code="invalid_refresh_token")
    if tenant is None or tenant.status != "active":
        raise Forbidden("this tenant is suspended", code="tenant_suspended")
    await repository.mark_refresh_token_used(session, token.id, now)
    return await _start_or_continue(session, issuer, user, ttl_seconds=refresh_ttl_seconds,
                                    family_id=token.family_id)


async def revoke_family(session: AsyncSession, family_id: UUID) -> None:
    await repository.revoke_refresh_family(session, family_id, datetime.now(UTC))


async def logout(session: AsyncSession, presented: str | None, user_id: UUID, session_id: str | None) -> None:
    """Revoke the caller's session: the access token's own (``sid``) and that of ``presented`` when it is theirs."""
    if session_id:
        await revoke_family(session, UUID(session_id))
    if not presented:
        return
    token = await repository.claim_refresh_token(session, secret_hash(presented))
    if token is not None and token.user_id == user_id:
        await revoke_family(session, token.family_id)
