"""Kanban pipeline: stages, lead cards, moves (also concurrent ones) through the HTTP API on real Postgres."""

from __future__ import annotations

import asyncio
import random
import uuid
from typing import Any

import pytest

from parley.kit.auth import Principal
from tests.integration.conversation_crm.conftest import Crm

pytestmark = pytest.mark.integration


async def _stage(crm: Crm, name: str, **extra: Any) -> dict[str, Any]:
    response = await crm.client.post("/v1/pipeline/stages", json={"name": name, **extra})
    assert response.status_code == 201, response.text
    return response.json()


async def _lead(crm: Crm, stage_id: str, **extra: Any) -> dict[str, Any]:
    contact_id = await crm.contact()
    response = await crm.client.post("/v1/pipeline/leads", json={"contact_id": str(contact_id), "stage_id": stage_id,
                                                                  **extra})
    assert response.status_code == 201, response.text
    return response.json()


async def _board(crm: Crm) -> dict[str, list[str]]:
    """Stage name -> lead ids in position order, checking positions are 0..n-1 on every list."""
    stages = (await crm.client.get("/v1/pipeline/stages")).json()["data"]
    assert [s["position"] for s in stages] == list(range(len(stages)))
    board = {}
    for stage in stages:
        leads, cursor = [], None
        while True:
            page = (await crm.client.get("/v1/pipeline/leads", params={
                "stage_id": stage["id"], "limit": 7, **({"cursor": cursor} if cursor else {})})).json()
            leads += page["data"]
            cursor = page["pagination"]["next_cursor"]
            if not cursor:
                break
        assert [lead["position"] for lead in leads] == list(range(len(leads))), stage["name"]
        board[stage["name"]] = [lead["id"] for lead in leads]
    return board


async def test_stages_are_ordered_renamed_reordered_and_deleted_with_rules(crm: Crm) -> None:
    new, won = await _stage(crm, "New"), await _stage(crm, "Won")
    talking = await _stage(crm, "Talking", position=1)
    assert list(await _board(crm)) == ["New", "Talking", "Won"]

    renamed = await crm.client.patch(f"/v1/pipeline/stages/{talking['id']}", json={"name": "Negotiation",
                                                                                     "position": 99})
    assert renamed.status_code == 200 and renamed.json()["position"] == 2, "a position past the end means last"
    assert list(await _board(crm)) == ["New", "Won", "Negotiation"]

    duplicate = await crm.client.post("/v1/pipeline/stages", json={"name": "won"})
    assert duplicate.status_code == 409 and duplicate.json()["error"]["code"] == "stage_name_taken"
    empty_name = await crm.client.post("/v1/pipeline/stages", json={"name": "  "})
    assert empty_name.status_code == 422 and empty_name.json()["success"] is False

    first, second = await _lead(crm, new["id"]), await _lead(crm, new["id"])
    kept = await _lead(crm, won["id"])
    refused = await crm.client.delete(f"/v1/pipeline/stages/{new['id']}")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "stage_not_empty"
    assert (await crm.client.delete(f"/v1/pipeline/stages/{new['id']}",
                                    params={"move_leads_to": new["id"]})).status_code == 400
    moved = await crm.client.delete(f"/v1/pipeline/stages/{new['id']}", params={"move_leads_to": won["id"]})
    assert moved.status_code == 204
    assert await _board(crm) == {"Won": [kept["id"], first["id"], second["id"]], "Negotiation": []}


async def test_a_lead_card_is_created_moved_and_edited(crm: Crm) -> None:
    new, won = await _stage(crm, "New"), await _stage(crm, "Won")
    owner = str(uuid.uuid4())
    a = await _lead(crm, new["id"], value="1500.50", currency="BRL", owner_id=owner, custom_fields={"city": "Rio"})
    b, c = await _lead(crm, new["id"]), await _lead(crm, new["id"], position=0)
    assert await _board(crm) == {"New": [c["id"], a["id"], b["id"]], "Won": []}
    assert a["value"] == "1500.50" and a["owner_id"] == owner and a["custom_fields"] == {"city": "Rio"}

    again = await crm.client.post("/v1/pipeline/leads", json={"contact_id": a["contact_id"], "stage_id": won["id"]})
    assert again.status_code == 409 and again.json()["error"]["code"] == "lead_exists"

    moved = await crm.client.patch(f"/v1/pipeline/leads/{a['id']}", json={"stage_id": won["id"], "position": 0,
                                                                           "value": "2000",
                                                                           "custom_fields": {"city": None, "tier": 1}})
    assert moved.status_code == 200, moved.text
    body = moved.json()
    assert (body["stage_id"], body["position"], body["value"]) == (won["id"], 0, "2000.00")
    assert body["custom_fields"] == {"tier": 1} and body["owner_id"] == owner
    assert await _board(crm) == {"New": [c["id"], b["id"]], "Won": [a["id"]]}

    reordered = await crm.client.patch(f"/v1/pipeline/leads/{c['id']}", json={"position": 5})
    assert reordered.json()["position"] == 1
    assert await _board(crm) == {"New": [b["id"], c["id"]], "Won": [a["id"]]}
    cleared = await crm.client.patch(f"/v1/pipeline/leads/{a['id']}", json={"owner_id": None})
    assert cleared.json()["owner_id"] is None
    fetched = await crm.client.get(f"/v1/pipeline/leads/{a['id']}")
    assert fetched.json()["owner_id"] is None and fetched.json()["value"] == "2000.00"

    history = [e["type"] for e in await crm.events(aggregate_id=str(crm.principal.tenant_id))]
    assert history.count("pipeline.lead-moved") == 2 and history.count("pipeline.lead-updated") == 2


async def test_bad_input_and_other_tenants_ids_get_the_standard_errors(crm: Crm) -> None:
    stage = await _stage(crm, "New")
    lead = await _lead(crm, stage["id"])
    negative = await crm.client.patch(f"/v1/pipeline/leads/{lead['id']}", json={"position": -1})
    assert negative.status_code == 422 and negative.json()["error"]["code"] == "validation_error"
    unknown_field = await crm.client.patch(f"/v1/pipeline/leads/{lead['id']}", json={"stage": "x"})
    assert unknown_field.status_code == 422
    bad_currency = await crm.client.patch(f"/v1/pipeline/leads/{lead['id']}", json={"currency": "real"})
    assert bad_currency.status_code == 422
    nowhere = await crm.client.patch(f"/v1/pipeline/leads/{lead['id']}", json={"stage_id": str(uuid.uuid4())})
    assert nowhere.status_code == 404
    no_contact = await crm.client.post("/v1/pipeline/leads", json={"contact_id": str(uuid.uuid4()),
                                                                   "stage_id": stage["id"]})
    assert no_contact.status_code == 404 and no_contact.json()["error"]["message"] == "no such contact"
    bad_cursor = await crm.client.get("/v1/pipeline/stages", params={"cursor": "garbage"})
    assert bad_cursor.status_code == 400 and bad_cursor.json()["error"]["code"] == "invalid_cursor"

    owner = crm.principal
    crm.principal = Principal(owner.tenant_id, uuid.uuid4(), "agent")
    forbidden = await crm.client.post("/v1/pipeline/stages", json={"name": "Lost"})
    assert forbidden.status_code == 403 and forbidden.json()["error"]["code"] == "forbidden"
    assert (await crm.client.patch(f"/v1/pipeline/leads/{lead['id']}", json={"position": 0})).status_code == 200

    crm.as_other_tenant()
    for response in (
        await crm.client.get(f"/v1/pipeline/leads/{lead['id']}"),
        await crm.client.patch(f"/v1/pipeline/leads/{lead['id']}", json={"value": "1"}),
        await crm.client.get("/v1/pipeline/leads", params={"stage_id": stage["id"]}),
        await crm.client.patch(f"/v1/pipeline/stages/{stage['id']}", json={"name": "Mine"}),
        await crm.client.delete(f"/v1/pipeline/stages/{stage['id']}"),
    ):
        assert response.status_code == 404, response.text
        assert response.json() == {"success": False, "error": {"code": "not_found", "message": response.json()[
            "error"]["message"], "details": None}}
    assert (await crm.client.get("/v1/pipeline/stages")).json()["data"] == []
    crm.principal = owner
    assert (await crm.client.get(f"/v1/pipeline/leads/{lead['id']}")).json()["value"] is None


async def test_concurrent_moves_by_many_agents_never_lose_or_duplicate_a_card(crm: Crm) -> None:
    stages = [await _stage(crm, name) for name in ("New", "Qualified", "Proposal", "Won")]
    leads = [await _lead(crm, stages[i % 2]["id"]) for i in range(16)]
    shuffle = random.Random(7)
    moves = [{"stage_id": shuffle.choice(stages)["id"], "position": shuffle.randint(0, 10)} for _ in range(48)]
    targets = [shuffle.choice(leads)["id"] for _ in moves]

    # Each request is its own transaction on its own connection: the moves really race in Postgres.
    responses = await asyncio.gather(*(crm.client.patch(f"/v1/pipeline/leads/{lead_id}", json=move)
                                       for lead_id, move in zip(targets, moves, strict=True)))
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses if r.status_code != 200]

    board = await _board(crm)  # also checks every stage's positions are exactly 0..n-1
    placed = [lead_id for column in board.values() for lead_id in column]
    assert sorted(placed) == sorted(lead["id"] for lead in leads), "every card is on the board exactly once"
    history = [e["data"] for e in await crm.events(aggregate_id=str(crm.principal.tenant_id))
               if e["type"] == "pipeline.lead-moved"]
    final_stage = {move["lead_id"]: move["stage_id"] for move in history}
    for stage in stages:
        for lead_id in board[stage["name"]]:
            if lead_id in final_stage:
                assert final_stage[lead_id] == stage["id"], "the board agrees with the last recorded move"
