"""Row-level security on ingest's tenant-owned tables (inbound hooks and their data keys), through ingest's own role.

``webhook_events`` and ``channel_routes`` stay outside the policy (see migration 0005): WhatsApp webhooks have
no tenant until routed, and routing looks numbers up across tenants.
"""

from __future__ import annotations

import json
import uuid

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import DBAPIError

from parley.ingest.hooks.models import InboundHook, data_keys
from parley.kit.auth import Principal
from tests.integration.ingest.test_inbound_hooks import PURCHASE, PURCHASE_HOOK, Harness, ingest, standard_headers

pytestmark = pytest.mark.integration
__all__ = ["ingest"]  # the fixture, imported so pytest finds it here


async def _two_tenants(ingest: Harness) -> list[tuple[uuid.UUID, dict]]:
    hooks = []
    for _ in range(2):
        ingest.principal = Principal(uuid.uuid4(), uuid.uuid4(), "owner")
        hooks.append((ingest.principal.tenant_id, await ingest.create(**PURCHASE_HOOK)))
    return hooks


async def _tenants_seen(ingest: Harness, column: object, **scope: object) -> set[uuid.UUID]:
    """The tenants whose rows one transaction sees, queried WITHOUT a tenant filter."""
    async with ingest.service.db.unit_of_work(**scope) as session:  # type: ignore[arg-type]
        return set((await session.execute(select(column).distinct())).scalars())  # type: ignore[call-overload]


async def test_hooks_and_data_keys_are_seen_only_by_their_tenant(ingest: Harness) -> None:
    (a, hook_a), (b, hook_b) = await _two_tenants(ingest)
    for column in (InboundHook.tenant_id, data_keys.c.tenant_id):
        assert {a, b} <= await _tenants_seen(ingest, column, system=True)
        assert await _tenants_seen(ingest, column, tenant_id=a) == {a}
        assert await _tenants_seen(ingest, column, tenant_id=b) == {b}
        assert await _tenants_seen(ingest, column) == set(), "an unscoped transaction sees no tenant's rows"

    with pytest.raises(DBAPIError, match="row-level security"):
        async with ingest.service.db.unit_of_work(tenant_id=a) as session:
            await session.execute(update(InboundHook).where(InboundHook.tenant_id == a).values(tenant_id=b))
    async with ingest.service.db.unit_of_work(tenant_id=a) as session:
        disabled = await session.execute(update(InboundHook).values(active=False))
        assert disabled.rowcount == 1, "an unfiltered UPDATE reaches only tenant A's hook"

    ingest.principal = Principal(a, uuid.uuid4(), "owner")
    assert (await ingest.client.get(f"/v1/hooks/{hook_b['id']}")).status_code == 404
    # Tenant B's hook still works: its delivery finds the hook across tenants and opens B's secret.
    body = json.dumps(PURCHASE).encode()
    delivered = await ingest.client.post(hook_b["receive_path"], content=body,
                                         headers=standard_headers(hook_b["secret"], body))
    assert delivered.status_code == 200, delivered.text
    assert await ingest.process(delivered.json()["webhook_id"]) == "processed"
    [mapped] = await ingest.mapped(delivered.json()["webhook_id"])
    assert mapped["tenantid"] == str(b)
    refused = await ingest.client.post(hook_a["receive_path"], content=body,
                                       headers=standard_headers(hook_a["secret"], body))
    assert refused.status_code == 404, "tenant A's hook was disabled by A's unfiltered update"
