"""Tenants, owned by the gateway."""

from typing import Literal
from uuid import UUID

from parley.contracts.events.base import Payload

Feature = Literal["campaigns", "flows", "outbound_webhooks"]


class PlanLimits(Payload):
    """A plan's limits; ``None`` means unlimited. Enforced by the service that owns the resource."""

    numbers: int | None = None
    agents: int | None = None
    monthly_messages: int | None = None
    messages_per_minute: int | None = None
    messages_per_hour: int | None = None
    messages_per_day: int | None = None


class TenantCreated(Payload):
    tenant_id: UUID
    name: str
    plan: str
    status: Literal["active", "suspended"] = "active"
    limits: PlanLimits | None = None
    features: list[Feature] | None = None


class TenantStatusChanged(Payload):
    tenant_id: UUID
    status: Literal["active", "suspended"]
    reason: str | None = None


class TenantPlanChanged(Payload):
    """The tenant's plan now, with its limits and features in full (not a diff)."""

    tenant_id: UUID
    plan: str
    limits: PlanLimits
    features: list[Feature]
