"""Internal events of the gateway: stored in its event store, never published."""

from __future__ import annotations

from uuid import UUID

from pydantic import BaseModel

from parley.gateway.models import Role

USER_CREATED = "user.created"


class UserCreated(BaseModel):
    """A user joined a tenant. Carries the password hash so ``rebuild`` can restore the login."""

    user_id: UUID
    tenant_id: UUID
    email: str
    password_hash: str
    role: Role
