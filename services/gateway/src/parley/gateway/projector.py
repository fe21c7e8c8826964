"""Applies the gateway's events to its tables, at write time and during ``rebuild`` alike."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy import delete, insert, update
from sqlalchemy.ext.asyncio import AsyncSession

from parley.contracts import Envelope
from parley.contracts.events.tenants import TenantCreated, TenantPlanChanged, TenantStatusChanged
from parley.contracts.events.users import UserCreated, UserRemoved, UserUpdated
from parley.gateway import events, plans
from parley.gateway.models import ApiKey, Invitation, Tenant, User


async def _tenant_created(session: AsyncSession, envelope: Envelope) -> None:
    event = TenantCreated.model_validate(envelope.data)
    if event.limits is None or event.features is None:  # stored before plans carried their limits
        limits, features = plans.PLANS.get(event.plan, (plans.PlanLimits(), []))
    else:
        limits, features = event.limits, event.features
    await session.execute(insert(Tenant).values(
        id=event.tenant_id, name=event.name, plan=event.plan, status=event.status,
        limits=limits.model_dump(mode="json"), features=list(features), created_at=envelope.time))


async def _tenant_status_changed(session: AsyncSession, envelope: Envelope) -> None:
    event = TenantStatusChanged.model_validate(envelope.data)
    await session.execute(update(Tenant).where(Tenant.id == event.tenant_id).values(status=event.status))


async def _tenant_plan_changed(session: AsyncSession, envelope: Envelope) -> None:
    event = TenantPlanChanged.model_validate(envelope.data)
    await session.execute(update(Tenant).where(Tenant.id == event.tenant_id).values(
        plan=event.plan, limits=event.limits.model_dump(mode="json"), features=list(event.features)))


async def _user_created(session: AsyncSession, envelope: Envelope) -> None:
    if "password_hash" in envelope.data:
        legacy = events.LegacyUserCreated.model_validate(envelope.data)
        values = {"id": legacy.user_id, "tenant_id": legacy.tenant_id, "email": legacy.email,
                  "password_hash": legacy.password_hash, "role": legacy.role, "status": "active", "name": None}
    else:
        event = UserCreated.model_validate(envelope.data)
        values = {"id": event.user_id, "tenant_id": event.tenant_id, "email": event.email, "password_hash": None,
                  "role": event.role, "status": event.status, "name": event.name}
    await session.execute(insert(User).values(**values, created_at=envelope.time))


async def _user_updated(session: AsyncSession, envelope: Envelope) -> None:
    event = UserUpdated.model_validate(envelope.data)
    await session.execute(update(User).where(User.id == event.user_id).values(
        role=event.role, status=event.status, name=event.name))


async def _user_removed(session: AsyncSession, envelope: Envelope) -> None:
    event = UserRemoved.model_validate(envelope.data)
    await session.execute(delete(User).where(User.id == event.user_id))


async def _user_password_set(session: AsyncSession, envelope: Envelope) -> None:
    event = events.UserPasswordSet.model_validate(envelope.data)
    await session.execute(update(User).where(User.id == event.user_id).values(password_hash=event.password_hash))


async def _invitation_created(session: AsyncSession, envelope: Envelope) -> None:
    event = events.InvitationCreated.model_validate(envelope.data)
    await session.execute(insert(Invitation).values(
        id=event.invitation_id, tenant_id=event.tenant_id, email=event.email, role=event.role,
        token_hash=event.token_hash, invited_by=event.invited_by, expires_at=event.expires_at,
        created_at=envelope.time))


async def _invitation_accepted(session: AsyncSession, envelope: Envelope) -> None:
    event = events.InvitationAccepted.model_validate(envelope.data)
    await session.execute(update(Invitation).where(Invitation.id == event.invitation_id).values(
        accepted_at=envelope.time))


async def _api_key_created(session: AsyncSession, envelope: Envelope) -> None:
    event = events.ApiKeyCreated.model_validate(envelope.data)
    await session.execute(insert(ApiKey).values(
        id=event.api_key_id, tenant_id=event.tenant_id, name=event.name, prefix=event.prefix,
        key_hash=event.key_hash, scopes=event.scopes, rate_per_minute=event.rate_per_minute,
        created_by=event.created_by, created_at=envelope.time))


async def _api_key_revoked(session: AsyncSession, envelope: Envelope) -> None:
    event = events.ApiKeyRevoked.model_validate(envelope.data)
    await session.execute(update(ApiKey).where(ApiKey.id == event.api_key_id).values(revoked_at=envelope.time))


_HANDLERS: dict[str, Callable[[AsyncSession, Envelope], Awaitable[None]]] = {
    "tenant.created": _tenant_created,
    "tenant.status-changed": _tenant_status_changed,
    "tenant.plan-changed": _tenant_plan_changed,
    "user.created": _user_created,
    "user.updated": _user_updated,
    "user.removed": _user_removed,
    events.USER_PASSWORD_SET: _user_password_set,
    events.INVITATION_CREATED: _invitation_created,
    events.INVITATION_ACCEPTED: _invitation_accepted,
    events.API_KEY_CREATED: _api_key_created,
    events.API_KEY_REVOKED: _api_key_revoked,
}


async def project(session: AsyncSession, envelope: Envelope) -> None:
    """The EventStore's projector: the only writer of tenants, users, invitations and API keys."""
    handler = _HANDLERS.get(envelope.type)
    if handler is not None:
        await handler(session, envelope)
