"""Applies the gateway's events to its tables, at write time and during ``rebuild`` alike."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession

from parley.contracts import Envelope
from parley.contracts.events.tenants import TenantCreated, TenantStatusChanged
from parley.gateway import repository
from parley.gateway.events import USER_CREATED, UserCreated


async def _tenant_created(session: AsyncSession, envelope: Envelope) -> None:
    event = TenantCreated.model_validate(envelope.data)
    await repository.insert_tenant(session, tenant_id=event.tenant_id, name=event.name, plan=event.plan,
                                   status=event.status, created_at=envelope.time)


async def _tenant_status_changed(session: AsyncSession, envelope: Envelope) -> None:
    event = TenantStatusChanged.model_validate(envelope.data)
    await repository.set_tenant_status(session, event.tenant_id, event.status)


async def _user_created(session: AsyncSession, envelope: Envelope) -> None:
    event = UserCreated.model_validate(envelope.data)
    await repository.insert_user(session, user_id=event.user_id, tenant_id=event.tenant_id, email=event.email,
                                 password_hash=event.password_hash, role=event.role, created_at=envelope.time)


_HANDLERS: dict[str, Callable[[AsyncSession, Envelope], Awaitable[None]]] = {
    "tenant.created": _tenant_created,
    "tenant.status-changed": _tenant_status_changed,
    USER_CREATED: _user_created,
}


async def project(session: AsyncSession, envelope: Envelope) -> None:
    """The EventStore's projector: the only writer of ``tenants`` and ``users``."""
    handler = _HANDLERS.get(envelope.type)
    if handler is not None:
        await handler(session, envelope)
