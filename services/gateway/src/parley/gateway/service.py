"""Use cases of the gateway: tenants, plans, users. Services flush; the edge commits."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from parley.contracts.events.tenants import TenantCreated, TenantPlanChanged, TenantStatusChanged
from parley.contracts.events.users import UserCreated, UserRemoved, UserUpdated
from parley.gateway import plans, repository
from parley.gateway.access import ROLE_RANK
from parley.gateway.events import USER_PASSWORD_SET, UserPasswordSet
from parley.gateway.models import Role, TenantStatus, User
from parley.gateway.passwords import hash_password
from parley.kit.errors import Conflict, DomainError, Forbidden, NotFound
from parley.kit.eventstore import EventStore


def normalize_email(email: str) -> str:
    """E-mail addresses are unique and compared lower-cased."""
    return email.strip().lower()


def validate_email(email: str) -> str:
    email = normalize_email(email)
    local, at, domain = email.partition("@")
    if not at or not local or not domain or any(c.isspace() for c in email):
        raise DomainError(f"{email!r} is not an e-mail address", code="invalid_email", status_code=422)
    return email


async def _tenant_version(session: AsyncSession, store: EventStore, tenant_id: UUID) -> int:
    if await repository.get_tenant(session, tenant_id) is None:
        raise NotFound(f"tenant {tenant_id} does not exist", code="tenant_not_found")
    return await store.version_of(session, "tenant", str(tenant_id))


async def create_tenant(session: AsyncSession, store: EventStore, *, name: str, plan: str,
                        tenant_id: UUID | None = None) -> UUID:
    """Create an active tenant on ``plan``; publishes ``tenant.created`` with its limits and features."""
    limits, features = plans.plan(plan)
    tenant_id = tenant_id or uuid.uuid4()
    if await repository.get_tenant(session, tenant_id) is not None:
        raise Conflict(f"tenant {tenant_id} already exists", code="tenant_exists")
    await store.record(session, TenantCreated(tenant_id=tenant_id, name=name, plan=plan, status="active",
                                              limits=limits, features=features),
                       aggregate_type="tenant", aggregate_id=str(tenant_id), expected_version=0,
                       tenant_id=tenant_id)
    return tenant_id


async def change_tenant_status(session: AsyncSession, store: EventStore, tenant_id: UUID,
                               status: TenantStatus, reason: str | None = None) -> None:
    """Suspend or reactivate a tenant; publishes ``tenant.status-changed``."""
    version = await _tenant_version(session, store, tenant_id)
    tenant = await repository.get_tenant(session, tenant_id)
    if tenant is None or tenant.status == status:
        return
    await store.record(session, TenantStatusChanged(tenant_id=tenant_id, status=status, reason=reason),
                       aggregate_type="tenant", aggregate_id=str(tenant_id), expected_version=version,
                       tenant_id=tenant_id)


async def change_plan(session: AsyncSession, store: EventStore, tenant_id: UUID, plan: str) -> None:
    """Move a tenant to ``plan``; publishes ``tenant.plan-changed`` with the plan's limits and features."""
    limits, features = plans.plan(plan)
    version = await _tenant_version(session, store, tenant_id)
    await store.record(session, TenantPlanChanged(tenant_id=tenant_id, plan=plan, limits=limits, features=features),
                       aggregate_type="tenant", aggregate_id=str(tenant_id), expected_version=version,
                       tenant_id=tenant_id)


async def create_user(session: AsyncSession, store: EventStore, *, tenant_id: UUID, email: str, password: str,
                      role: Role, name: str | None = None) -> UUID:
    """Add a user to a tenant; the e-mail must not be in use anywhere. Publishes ``user.created``."""
    email = validate_email(email)
    if await repository.get_tenant(session, tenant_id) is None:
        raise NotFound(f"tenant {tenant_id} does not exist", code="tenant_not_found")
    if await repository.find_user_by_email_in_any_tenant(session, email) is not None:
        raise Conflict("a user with this e-mail already exists", code="email_taken")
    user_id = uuid.uuid4()
    await store.record(session, UserCreated(tenant_id=tenant_id, user_id=user_id, email=email, name=name,
                                            role=role, status="active"),
                       aggregate_type="user", aggregate_id=str(user_id), expected_version=0, tenant_id=tenant_id)
    password_set = UserPasswordSet(user_id=user_id, password_hash=await hash_password(password))
    await store.record_internal(session, USER_PASSWORD_SET, password_set.model_dump(mode="json"),
                                aggregate_type="user", aggregate_id=str(user_id), expected_version=1,
                                tenant_id=tenant_id)
    return user_id


async def get_user(session: AsyncSession, tenant_id: UUID, user_id: UUID) -> User:
    user = await repository.get_user(session, tenant_id, user_id)
    if user is None:
        raise NotFound("no such user", code="user_not_found")
    return user


def _check_may_manage(actor_role: str, target_role: str, new_role: str | None = None) -> None:
    """Nobody changes someone ranked above them, nor grants a role above their own."""
    if ROLE_RANK[target_role] > ROLE_RANK[actor_role] or (new_role and ROLE_RANK[new_role] > ROLE_RANK[actor_role]):
        raise Forbidden(f"the {actor_role} role may not manage {new_role or target_role} users",
                        code="insufficient_role")


async def _check_keeps_an_owner(session: AsyncSession, user: User, new_role: str | None) -> None:
    if user.role == "owner" and new_role != "owner" and await repository.count_owners(session, user.tenant_id) <= 1:
        raise Conflict("a tenant keeps at least one owner", code="last_owner")


async def update_user(session: AsyncSession, store: EventStore, *, tenant_id: UUID, actor_role: str,
                      user_id: UUID, role: Role | None, name: str | None,
                      status: str | None) -> User:
    """Change a user's role, name or status; publishes ``user.updated``."""
    user = await get_user(session, tenant_id, user_id)
    _check_may_manage(actor_role, user.role, role)
    if (role is not None and role != user.role) or status == "disabled":
        await _check_keeps_an_owner(session, user, role if status != "disabled" else None)
    version = await store.version_of(session, "user", str(user_id))
    await store.record(session, UserUpdated(tenant_id=tenant_id, user_id=user_id, email=user.email,
                                            name=name if name is not None else user.name,
                                            role=role or user.role,  # type: ignore[arg-type]
                                            status=status or user.status),  # type: ignore[arg-type]
                       aggregate_type="user", aggregate_id=str(user_id), expected_version=version,
                       tenant_id=tenant_id)
    if status == "disabled":
        await repository.revoke_user_refresh_tokens(session, user_id, datetime.now(UTC))
    await session.refresh(user)
    return user


async def remove_user(session: AsyncSession, store: EventStore, *, tenant_id: UUID, actor_role: str,
                      user_id: UUID) -> None:
    """Remove a user from the tenant; publishes ``user.removed``."""
    user = await get_user(session, tenant_id, user_id)
    _check_may_manage(actor_role, user.role)
    await _check_keeps_an_owner(session, user, None)
    version = await store.version_of(session, "user", str(user_id))
    await store.record(session, UserRemoved(tenant_id=tenant_id, user_id=user_id), aggregate_type="user",
                       aggregate_id=str(user_id), expected_version=version, tenant_id=tenant_id)
    await repository.revoke_user_refresh_tokens(session, user_id, datetime.now(UTC))


async def ensure_tenant_with_owner(session: AsyncSession, store: EventStore, *, tenant_id: UUID, name: str,
                                   plan: str, email: str, password: str) -> list[str]:
    """Create the tenant and its owner unless they exist; returns what was created."""
    created: list[str] = []
    if await repository.get_tenant(session, tenant_id) is None:
        await create_tenant(session, store, tenant_id=tenant_id, name=name, plan=plan)
        created.append(f"tenant {tenant_id}")
    owner = await repository.find_user_by_email_in_any_tenant(session, normalize_email(email))
    if owner is None:
        await create_user(session, store, tenant_id=tenant_id, email=email, password=password, role="owner")
        created.append(f"owner {normalize_email(email)}")
    elif owner.tenant_id != tenant_id:
        raise Conflict(f"{email} already belongs to tenant {owner.tenant_id}", code="email_taken")
    return created
