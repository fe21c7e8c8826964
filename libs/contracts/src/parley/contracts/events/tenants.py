"""Tenants, owned by the gateway."""

from typing import Literal
from uuid import UUID

from parley.contracts.events.base import Payload


class TenantCreated(Payload):
    tenant_id: UUID
    name: str
    plan: str
    status: Literal["active", "suspended"] = "active"


class TenantStatusChanged(Payload):
    tenant_id: UUID
    status: Literal["active", "suspended"]
    reason: str | None = None
