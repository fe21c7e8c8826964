"""Use cases of the gateway: tenants, users, logging in. Services flush; the edge commits."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from parley.contracts.events.tenants import TenantCreated, TenantStatusChanged
from parley.gateway import repository
from parley.gateway.events import USER_CREATED, UserCreated
from parley.gateway.models import Role, TenantStatus
from parley.gateway.passwords import hash_password, verify_password
from parley.gateway.tokens import TokenIssuer
from parley.kit.errors import Conflict, DomainError, Forbidden, NotFound, Unauthorized
from parley.kit.eventstore import EventStore


@dataclass(frozen=True)
class AccessToken:
    token: str
    expires_in: int


def normalize_email(email: str) -> str:
    """E-mail addresses are unique and compared lower-cased."""
    return email.strip().lower()


async def create_tenant(session: AsyncSession, store: EventStore, *, name: str, plan: str,
                        tenant_id: UUID | None = None) -> UUID:
    """Create an active tenant; publishes ``tenant.created``."""
    tenant_id = tenant_id or uuid.uuid4()
    if await repository.get_tenant(session, tenant_id) is not None:
        raise Conflict(f"tenant {tenant_id} already exists", code="tenant_exists")
    await store.record(session, TenantCreated(tenant_id=tenant_id, name=name, plan=plan, status="active"),
                       aggregate_type="tenant", aggregate_id=str(tenant_id), expected_version=0,
                       tenant_id=tenant_id)
    return tenant_id


async def change_tenant_status(session: AsyncSession, store: EventStore, tenant_id: UUID,
                               status: TenantStatus, reason: str | None = None) -> None:
    """Suspend or reactivate a tenant; publishes ``tenant.status-changed``."""
    tenant = await repository.get_tenant(session, tenant_id)
    if tenant is None:
        raise NotFound(f"tenant {tenant_id} does not exist", code="tenant_not_found")
    if tenant.status == status:
        return
    version = await store.version_of(session, "tenant", str(tenant_id))
    await store.record(session, TenantStatusChanged(tenant_id=tenant_id, status=status, reason=reason),
                       aggregate_type="tenant", aggregate_id=str(tenant_id), expected_version=version,
                       tenant_id=tenant_id)


async def create_user(session: AsyncSession, store: EventStore, *, tenant_id: UUID, email: str, password: str,
                      role: Role) -> UUID:
    """Add a user to a tenant; the e-mail must not be in use anywhere."""
    email = normalize_email(email)
    if "@" not in email:
        raise DomainError(f"{email!r} is not an e-mail address", code="invalid_email", status_code=422)
    if await repository.get_tenant(session, tenant_id) is None:
        raise NotFound(f"tenant {tenant_id} does not exist", code="tenant_not_found")
    if await repository.find_user_by_email(session, email) is not None:
        raise Conflict("a user with this e-mail already exists", code="email_taken")
    user_id = uuid.uuid4()
    event = UserCreated(user_id=user_id, tenant_id=tenant_id, email=email,
                        password_hash=await hash_password(password), role=role)
    await store.record_internal(session, USER_CREATED, event.model_dump(mode="json"), aggregate_type="user",
                                aggregate_id=str(user_id), expected_version=0, tenant_id=tenant_id)
    return user_id


async def login(session: AsyncSession, issuer: TokenIssuer, *, email: str, password: str) -> AccessToken:
    """Exchange e-mail and password for an access token."""
    found = await repository.find_login(session, normalize_email(email))
    user, tenant = found if found is not None else (None, None)
    password_matches = await verify_password(user.password_hash if user else None, password)
    if user is None or tenant is None or not password_matches:
        raise Unauthorized("the e-mail or password is incorrect", code="invalid_credentials")
    if tenant.status != "active":
        raise Forbidden("this tenant is suspended", code="tenant_suspended")
    token = issuer.issue(user_id=user.id, tenant_id=user.tenant_id, role=user.role)
    return AccessToken(token=token, expires_in=issuer.ttl_seconds)


async def ensure_tenant_with_owner(session: AsyncSession, store: EventStore, *, tenant_id: UUID, name: str,
                                   plan: str, email: str, password: str) -> list[str]:
    """Create the tenant and its owner unless they exist; returns what was created."""
    created: list[str] = []
    if await repository.get_tenant(session, tenant_id) is None:
        await create_tenant(session, store, tenant_id=tenant_id, name=name, plan=plan)
        created.append(f"tenant {tenant_id}")
    owner = await repository.find_user_by_email(session, normalize_email(email))
    if owner is None:
        await create_user(session, store, tenant_id=tenant_id, email=email, password=password, role="owner")
        created.append(f"owner {normalize_email(email)}")
    elif owner.tenant_id != tenant_id:
        raise Conflict(f"{email} already belongs to tenant {owner.tenant_id}", code="email_taken")
    return created
