"""Users of a tenant (agents, managers, admins, owners), owned by the gateway.

Conversation projects them to know who can be assigned and who is in rotation; the realtime
feed uses the role to decide what a socket may see.
"""

from typing import Literal
from uuid import UUID

from parley.contracts.events.base import Payload

Role = Literal["owner", "admin", "manager", "agent"]
UserStatus = Literal["invited", "active", "disabled"]


class UserCreated(Payload):
    tenant_id: UUID
    user_id: UUID
    email: str
    name: str | None = None
    role: Role
    status: UserStatus = "active"


class UserUpdated(Payload):
    """The user's current role, status and name (the whole state, not a diff)."""

    tenant_id: UUID
    user_id: UUID
    email: str
    name: str | None = None
    role: Role
    status: UserStatus


class UserRemoved(Payload):
    tenant_id: UUID
    user_id: UUID
