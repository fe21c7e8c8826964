"""One-shot commands of ``python -m parley.gateway`` beyond serve/migrate/rebuild."""

from __future__ import annotations

import os
from uuid import UUID

from sqlalchemy.exc import IntegrityError

from parley.gateway import service
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
            async with gateway.db.unit_of_work() as session:
                created = await service.ensure_tenant_with_owner(
                    session, gateway.store, tenant_id=tenant_id, name=DEMO_TENANT_NAME, plan=DEMO_PLAN,
                    email=email, password=password)
            break
        except (ConcurrencyError, IntegrityError):
            # A concurrent seed won the race; the next attempt finds what it created.
            if attempt == 2:
                raise
    return f"gateway: demo seeded ({', '.join(created) or 'already present'})"
