"""One-shot commands of ``python -m parley.gateway`` beyond serve/migrate/rebuild."""

from __future__ import annotations

import os
from uuid import UUID

from sqlalchemy.exc import IntegrityError

from parley.gateway import service
from parley.gateway.plans import PLANS
from parley.gateway.runtime import GatewayRuntime
from parley.kit.eventstore import ConcurrencyError
from parley.kit.service import Service

DEMO_TENANT_NAME = "Demo"
DEMO_PLAN = "pro"


def _required_env(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise SystemExit(f"seed-demo needs {name} in the environment")
    return value


async def seed_demo(gateway: Service, _: list[str]) -> str:
    """Create the demo tenant and its owner unless they exist (safe while the service runs)."""
    tenant_id = UUID(_required_env("PARLEY_DEMO_TENANT_ID"))
    email, password = _required_env("PARLEY_DEMO_EMAIL"), _required_env("PARLEY_DEMO_PASSWORD")
    await gateway.migrate()
    for attempt in range(3):
        try:
            async with gateway.db.unit_of_work(tenant_id=tenant_id) as session:
                created = await service.ensure_tenant_with_owner(
                    session, gateway.store, tenant_id=tenant_id, name=DEMO_TENANT_NAME, plan=DEMO_PLAN,
                    email=email, password=password)
            break
        except (ConcurrencyError, IntegrityError):
            # A concurrent seed won the race; the next attempt finds what it created.
            if attempt == 2:
                raise
    return f"gateway: demo seeded ({', '.join(created) or 'already present'})"


def _runtime(gateway: Service) -> GatewayRuntime:
    runtime = gateway.definition.extra_state["gateway"]
    assert isinstance(runtime, GatewayRuntime)
    return runtime


def _tenant_id(args: list[str], usage: str) -> UUID:
    try:
        return UUID(args[0])
    except (IndexError, ValueError):
        raise SystemExit(f"usage: python -m parley.gateway {usage}") from None


async def suspend(gateway: Service, args: list[str]) -> str:
    """``suspend <tenant_id> [reason]``: every request of the tenant gets 403; its webhooks are still stored."""
    tenant_id = _tenant_id(args, "suspend <tenant_id> [reason]")
    await gateway.migrate()
    async with gateway.db.unit_of_work(tenant_id=tenant_id) as session:
        await service.change_tenant_status(session, gateway.store, tenant_id, "suspended",
                                           reason=" ".join(args[1:]) or None)
    await _runtime(gateway).tenant_status_changed(tenant_id, "suspended")
    return f"gateway: tenant {tenant_id} suspended"


async def reactivate(gateway: Service, args: list[str]) -> str:
    """``reactivate <tenant_id>``: the tenant's users and keys work again."""
    tenant_id = _tenant_id(args, "reactivate <tenant_id>")
    await gateway.migrate()
    async with gateway.db.unit_of_work(tenant_id=tenant_id) as session:
        await service.change_tenant_status(session, gateway.store, tenant_id, "active")
    await _runtime(gateway).tenant_status_changed(tenant_id, "active")
    return f"gateway: tenant {tenant_id} active"


async def set_plan(gateway: Service, args: list[str]) -> str:
    """``set-plan <tenant_id> <plan>``: limits and features of the plan apply from the next request."""
    tenant_id = _tenant_id(args, "set-plan <tenant_id> <plan>")
    if len(args) < 2:
        raise SystemExit(f"usage: python -m parley.gateway set-plan <tenant_id> <plan> (plans: {', '.join(PLANS)})")
    await gateway.migrate()
    async with gateway.db.unit_of_work(tenant_id=tenant_id) as session:
        await service.change_plan(session, gateway.store, tenant_id, args[1])
    await _runtime(gateway).tenants.invalidate(tenant_id)
    return f"gateway: tenant {tenant_id} on plan {args[1]}"
