"""Queries and writes of the gateway's tenants and users. Writes are called by the projector only."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from parley.gateway.models import Tenant, User


async def get_tenant(session: AsyncSession, tenant_id: UUID) -> Tenant | None:
    return await session.get(Tenant, tenant_id)


async def find_user_by_email(session: AsyncSession, email: str) -> User | None:
    return (await session.execute(select(User).where(User.email == email))).scalar_one_or_none()


async def find_login(session: AsyncSession, email: str) -> tuple[User, Tenant] | None:
    """The user with this (normalised) e-mail and their tenant."""
    row = (await session.execute(
        select(User, Tenant).join(Tenant, Tenant.id == User.tenant_id).where(User.email == email)
    )).one_or_none()
    return None if row is None else (row[0], row[1])


async def insert_tenant(session: AsyncSession, *, tenant_id: UUID, name: str, plan: str, status: str,
                        created_at: datetime) -> None:
    await session.execute(insert(Tenant).values(id=tenant_id, name=name, plan=plan, status=status,
                                                 created_at=created_at))


async def set_tenant_status(session: AsyncSession, tenant_id: UUID, status: str) -> None:
    await session.execute(update(Tenant).where(Tenant.id == tenant_id).values(status=status))


async def insert_user(session: AsyncSession, *, user_id: UUID, tenant_id: UUID, email: str,
                      password_hash: str, role: str, created_at: datetime) -> None:
    await session.execute(insert(User).values(id=user_id, tenant_id=tenant_id, email=email,
                                              password_hash=password_hash, role=role, created_at=created_at))
