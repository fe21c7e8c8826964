"""Queries of the gateway's tables. Projections are written by the projector; sessions here."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from parley.gateway.models import ApiKey, Invitation, RefreshToken, Tenant, User
from parley.gateway.scopes import across_tenants


async def get_tenant(session: AsyncSession, tenant_id: UUID) -> Tenant | None:
    return await session.get(Tenant, tenant_id)


async def find_user_by_email_in_any_tenant(session: AsyncSession, email: str) -> User | None:
    """The user with this e-mail in whichever tenant: e-mails are unique across the platform, so the check
    must see every tenant's users (system scope for this one query)."""
    async with across_tenants(session):
        return (await session.execute(select(User).where(User.email == email))).scalar_one_or_none()


async def get_user(session: AsyncSession, tenant_id: UUID, user_id: UUID) -> User | None:
    """The tenant's user; another tenant's id finds nothing."""
    return (await session.execute(
        select(User).where(User.id == user_id, User.tenant_id == tenant_id))).scalar_one_or_none()


async def list_users(session: AsyncSession, tenant_id: UUID, *, after: tuple[str, UUID] | None,
                     limit: int) -> list[User]:
    query = select(User).where(User.tenant_id == tenant_id)
    if after is not None:
        query = query.where((User.email, User.id) > after)
    return list((await session.execute(query.order_by(User.email, User.id).limit(limit))).scalars())


async def count_seats(session: AsyncSession, tenant_id: UUID, now: datetime) -> int:
    """Users plus open invitations: the seats the ``agents`` limit counts."""
    users = select(func.count()).select_from(User).where(User.tenant_id == tenant_id)
    pending = select(func.count()).select_from(Invitation).where(
        Invitation.tenant_id == tenant_id, Invitation.accepted_at.is_(None), Invitation.expires_at > now)
    return int((await session.execute(users)).scalar_one()) + int((await session.execute(pending)).scalar_one())


async def count_owners(session: AsyncSession, tenant_id: UUID) -> int:
    query = select(func.count()).select_from(User).where(User.tenant_id == tenant_id, User.role == "owner")
    return int((await session.execute(query)).scalar_one())


async def find_login(session: AsyncSession, email: str) -> tuple[User, Tenant] | None:
    """The user with this (normalised) e-mail and their tenant (the caller picks the scope: login declares
    system scope for it, as the tenant is what it is looking for)."""
    row = (await session.execute(
        select(User, Tenant).join(Tenant, Tenant.id == User.tenant_id).where(User.email == email)
    )).one_or_none()
    return None if row is None else (row[0], row[1])


async def find_invitation(session: AsyncSession, token_hash: str) -> Invitation | None:
    query = select(Invitation).where(Invitation.token_hash == token_hash).with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def find_api_key(session: AsyncSession, key_hash: str) -> ApiKey | None:
    return (await session.execute(select(ApiKey).where(ApiKey.key_hash == key_hash))).scalar_one_or_none()


async def get_api_key(session: AsyncSession, tenant_id: UUID, api_key_id: UUID) -> ApiKey | None:
    query = select(ApiKey).where(ApiKey.id == api_key_id, ApiKey.tenant_id == tenant_id)
    return (await session.execute(query)).scalar_one_or_none()


async def list_api_keys(session: AsyncSession, tenant_id: UUID) -> list[ApiKey]:
    query = select(ApiKey).where(ApiKey.tenant_id == tenant_id).order_by(ApiKey.created_at, ApiKey.id)
    return list((await session.execute(query)).scalars())


async def insert_refresh_token(session: AsyncSession, *, token_id: UUID, family_id: UUID, tenant_id: UUID,
                               user_id: UUID, token_hash: str, expires_at: datetime, now: datetime) -> None:
    await session.execute(insert(RefreshToken).values(
        id=token_id, family_id=family_id, tenant_id=tenant_id, user_id=user_id, token_hash=token_hash,
        expires_at=expires_at, created_at=now))


async def claim_refresh_token(session: AsyncSession, token_hash: str) -> RefreshToken | None:
    """The token row, locked so two concurrent refreshes with it cannot both succeed."""
    query = select(RefreshToken).where(RefreshToken.token_hash == token_hash).with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def mark_refresh_token_used(session: AsyncSession, token_id: UUID, now: datetime) -> None:
    await session.execute(update(RefreshToken).where(RefreshToken.id == token_id).values(used_at=now))


async def revoke_refresh_family(session: AsyncSession, family_id: UUID, now: datetime) -> None:
    await session.execute(update(RefreshToken).where(
        RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None)).values(revoked_at=now))


async def revoke_user_refresh_tokens(session: AsyncSession, user_id: UUID, now: datetime) -> None:
    await session.execute(update(RefreshToken).where(
        RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None)).values(revoked_at=now))
