"""Internal events of the gateway: stored in its event store, never published.

Public events (``tenant.*``, ``user.*``) are the contracts' models; these carry what must not leave the
gateway (password and token hashes) so ``rebuild`` can restore logins, invitations and API keys.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel

from parley.gateway.models import Role

#: Before users were published, the gateway stored its own ``user.created`` carrying the hash (topic NULL).
LEGACY_USER_CREATED = "user.created"
USER_PASSWORD_SET = "user.password-set"
INVITATION_CREATED = "invitation.created"
INVITATION_ACCEPTED = "invitation.accepted"
API_KEY_CREATED = "api-key.created"
API_KEY_REVOKED = "api-key.revoked"


class LegacyUserCreated(BaseModel):
    user_id: UUID
    tenant_id: UUID
    email: str
    password_hash: str
    role: Role


class UserPasswordSet(BaseModel):
    user_id: UUID
    password_hash: str


class InvitationCreated(BaseModel):
    invitation_id: UUID
    tenant_id: UUID
    email: str
    role: Role
    token_hash: str
    invited_by: UUID
    expires_at: datetime


class InvitationAccepted(BaseModel):
    invitation_id: UUID
    user_id: UUID


class ApiKeyCreated(BaseModel):
    api_key_id: UUID
    tenant_id: UUID
    name: str
    prefix: str
    key_hash: str
    scopes: list[str]
    rate_per_minute: int | None
    created_by: UUID


class ApiKeyRevoked(BaseModel):
    api_key_id: UUID
