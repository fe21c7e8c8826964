"""`rebuild` reproduces the pipeline board, consent, keywords and blocklist exactly from the event store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from parley.conversation import crm as crm_wiring
from parley.conversation.crm_models import CRM_TABLES
from parley.kit.consumer import ConsumerRunner
from tests.integration.conversation_crm.conftest import Crm, inbound, new_wa_id

pytestmark = pytest.mark.integration


async def _snapshot(crm: Crm) -> dict[str, list[tuple[Any, ...]]]:
    """This test's tenant's rows (row-level security scopes them; other tenants may be written meanwhile)."""
    async with crm.service.db.unit_of_work(tenant_id=crm.principal.tenant_id) as session:
        return {t.name: sorted((tuple(row) for row in await session.execute(select(t))), key=repr)
                for t in CRM_TABLES}


async def test_rebuild_reproduces_the_board_consent_and_blocklist(crm: Crm) -> None:
    post, patch = crm.client.post, crm.client.patch
    stages = [(await post("/v1/pipeline/stages", json={"name": n})).json()["id"] for n in ("New", "Talks", "Won")]
    leads = []
    for i in range(6):
        contact_id = await crm.contact()
        leads.append((await post("/v1/pipeline/leads", json={"contact_id": str(contact_id), "stage_id": stages[i % 2],
                                                              "value": f"{i}00.00"})).json()["id"])
    await patch(f"/v1/pipeline/leads/{leads[0]}", json={"stage_id": stages[2], "custom_fields": {"hot": True}})
    await patch(f"/v1/pipeline/leads/{leads[3]}", json={"stage_id": stages[0], "position": 0})
    await patch(f"/v1/pipeline/stages/{stages[2]}", json={"position": 0, "name": "Closed"})
    assert (await crm.client.delete(f"/v1/pipeline/stages/{stages[1]}",
                                    params={"move_leads_to": stages[0]})).status_code == 204

    await crm.client.put("/v1/opt-outs/keywords", json={"opt_out": ["SAIR", "STOP"], "opt_in": ["VOLTAR"]})
    [subscription] = crm_wiring.subscriptions(crm.service.store)
    runner = ConsumerRunner(crm.service.db, crm.service.store.tables, None, subscription)  # type: ignore[arg-type]
    tenant, at = crm.principal.tenant_id, datetime.now(UTC) - timedelta(minutes=5)
    stays_out, came_back, confirmed = new_wa_id(), new_wa_id(), new_wa_id()
    for envelope in (inbound(tenant, stays_out, text="sair", at=at), inbound(tenant, came_back, text="STOP", at=at),
                     inbound(tenant, came_back, text="Voltar", at=at + timedelta(minutes=1)),
                     inbound(tenant, confirmed, text="voltar", at=at)):
        assert await runner._process_once(envelope) == "processed"
    await post("/v1/opt-outs", json={"wa_id": "5511900000001", "reason": "phone call"})
    for number in ("5511900000002", "5511900000003"):
        await post("/v1/blocklist", json={"wa_id": number})
    await crm.client.delete("/v1/blocklist/5511900000002")

    before = await _snapshot(crm)
    mine = [row for row in before["pipeline_leads"] if row[1] == tenant]
    assert sorted(row[5] for row in mine) == [0, 0, 1, 2, 3, 4], "New holds five cards after the merge, Closed one"
    assert await crm.service.rebuild() > 0
    assert await _snapshot(crm) == before
