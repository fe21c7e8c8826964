"""Exports of contacts, conversations and messages: formats, filters, tenant scope, and that they stream."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import insert

from parley.contracts import Envelope, new_event_id
from parley.conversation.models import Contact, kit_tables
from tests.integration.conversation_crm.conftest import Crm, inbound, new_wa_id

pytestmark = pytest.mark.integration


def _csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


async def _export(crm: Crm, entity: str, **params: Any) -> Any:
    response = await crm.client.get(f"/v1/exports/{entity}", params=params)
    assert response.status_code == 200, response.text
    return response


async def test_contacts_export_as_csv_json_and_ndjson_with_filters(crm: Crm) -> None:
    ana, bruno, carla = new_wa_id(), new_wa_id(), new_wa_id()
    await crm.contact(ana, name="Ana Souza")
    await crm.contact(bruno, name="Bruno")
    await crm.contact(carla, name="=HYPERLINK(\"http://evil\")")
    assert (await crm.client.post("/v1/opt-outs", json={"wa_id": bruno})).status_code == 201
    assert (await crm.client.post("/v1/blocklist", json={"wa_id": carla})).status_code == 201

    response = await _export(crm, "contacts")
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"].startswith('attachment; filename="contacts-')
    assert response.text.splitlines()[0] == "id,wa_id,profile_name,created_at,opted_out,opted_out_at,blocked,labels"
    rows = {row["wa_id"]: row for row in _csv(response.text)}
    assert set(rows) == {ana, bruno, carla}
    assert (rows[ana]["opted_out"], rows[bruno]["opted_out"], rows[carla]["blocked"]) == ("false", "true", "true")
    assert rows[bruno]["opted_out_at"] and not rows[ana]["opted_out_at"]
    assert rows[carla]["profile_name"].startswith("'="), "a formula is defused for spreadsheets"

    opted_out = _csv((await _export(crm, "contacts", opted_out="true")).text)
    assert [row["wa_id"] for row in opted_out] == [bruno]
    not_blocked = _csv((await _export(crm, "contacts", blocked="false")).text)
    assert {row["wa_id"] for row in not_blocked} == {ana, bruno}
    named = json.loads((await _export(crm, "contacts", format="json", q="souza")).text)
    assert [(row["wa_id"], row["profile_name"], row["opted_out"]) for row in named] == [(ana, "Ana Souza", False)]
    lines = (await _export(crm, "contacts", format="ndjson", q="%")).text.splitlines()
    assert lines == [], "a % in q is a literal character, not a wildcard"
    everyone = [json.loads(line) for line in (await _export(crm, "contacts", format="ndjson")).text.splitlines()]
    assert [row["wa_id"] for row in everyone] == [ana, bruno, carla], "oldest first"
    empty = json.loads((await _export(crm, "contacts", format="json", q="nobody")).text)
    assert empty == []


async def test_conversation_and_message_exports_filter_by_status_channel_and_time(crm: Crm) -> None:
    tenant = crm.principal.tenant_id
    start = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)
    early, late = new_wa_id(), new_wa_id()
    await crm.receive(inbound(tenant, early, text="first", at=start))
    await crm.receive(inbound(tenant, early, text="second", at=start + timedelta(minutes=1)))
    await crm.receive(inbound(tenant, late, text="much later", at=start + timedelta(days=2)))

    conversations = _csv((await _export(crm, "conversations")).text)
    assert [(c["wa_id"], c["status"]) for c in conversations] == [(early, "open"), (late, "open")]
    window = _csv((await _export(crm, "conversations", **{"from": start.isoformat(),
                                                            "to": (start + timedelta(days=1)).isoformat()})).text)
    assert [c["wa_id"] for c in window] == [early]
    assert _csv((await _export(crm, "conversations", status="resolved")).text) == []
    assert _csv((await _export(crm, "conversations", channel="999")).text) == []

    conversation_id = await crm.conversation_of(early)
    messages = json.loads((await _export(crm, "messages", format="json", conversation_id=str(conversation_id))).text)
    assert [(m["text"], m["direction"], m["wa_id"]) for m in messages] == [("first", "inbound", early),
                                                                           ("second", "inbound", early)]
    assert messages[0]["content"] == {"text": {"body": "first"}}
    recent = _csv((await _export(crm, "messages", **{"from": (start + timedelta(hours=1)).isoformat()})).text)
    assert [m["text"] for m in recent] == ["much later"]

    bad_range = await crm.client.get("/v1/exports/messages", params={"from": start.isoformat(),
                                                                     "to": start.isoformat()})
    assert bad_range.status_code == 422 and bad_range.json()["error"]["code"] == "validation_error"
    bad_format = await crm.client.get("/v1/exports/contacts", params={"format": "xlsx"})
    assert bad_format.status_code == 422 and bad_format.json()["success"] is False

    crm.as_other_tenant()
    foreign = await crm.client.get("/v1/exports/messages", params={"conversation_id": str(conversation_id)})
    assert foreign.status_code == 404 and foreign.json()["error"]["code"] == "not_found"
    assert _csv((await _export(crm, "messages")).text) == []
    assert _csv((await _export(crm, "conversations")).text) == []
    assert _csv((await _export(crm, "contacts")).text) == []


async def _many_contacts(crm: Crm, count: int) -> None:
    """``count`` contacts stored as the service stores them (a ``contact.created`` event + its projection row),
    in two multi-row statements instead of 2 x ``count`` round trips."""
    tenant, base = crm.principal.tenant_id, datetime(2026, 1, 1, tzinfo=UTC)
    events, contacts = [], []
    for i in range(count):
        wa_id, contact_id, at = f"5521{i:09d}", new_event_id(), base + timedelta(seconds=i)
        envelope = Envelope(type="contact.created", source="/parley/conversation", tenantid=tenant, data={
            "contact_id": str(contact_id), "wa_id": wa_id, "profile_name": f"Customer {i}",
            "created_at": at.isoformat()}, subject=f"contact/{tenant}:{wa_id}")
        events.append({"event_id": envelope.id, "aggregate_type": "contact", "aggregate_id": f"{tenant}:{wa_id}",
                       "version": 1, "tenant_id": tenant, "event_type": envelope.type, "topic": None,
                       "partition_key": None, "envelope": envelope.model_dump(mode="json")})
        contacts.append({"id": contact_id, "tenant_id": tenant, "wa_id": wa_id, "profile_name": f"Customer {i}",
                         "created_at": at})
    async with crm.service.db.unit_of_work(system=True) as session:
        await session.execute(insert(kit_tables.event_store), events)
        await session.execute(insert(Contact), contacts)


def _exported_rows() -> float:
    return REGISTRY.get_sample_value("parley_conversation_exported_rows_total",
                                     {"entity": "contacts", "format": "csv"}) or 0.0


async def test_a_large_export_streams_its_first_bytes_before_the_last_row_is_read(crm: Crm) -> None:
    total = 3000
    await _many_contacts(crm, total)
    before = _exported_rows()
    finished = asyncio.Event()
    chunks: list[bytes] = []
    rows_read_at_first_chunk: list[float] = []

    requested = []

    async def receive() -> dict[str, Any]:
        if not requested:
            requested.append(True)
            return {"type": "http.request", "body": b"", "more_body": False}
        await finished.wait()  # the client stays connected until the whole export has arrived
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            assert message["status"] == 200
        elif message["type"] == "http.response.body":
            if message.get("body"):
                if not chunks:
                    rows_read_at_first_chunk.append(_exported_rows() - before)
                chunks.append(message["body"])
            if not message.get("more_body"):
                finished.set()

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
             "path": "/v1/exports/contacts", "raw_path": b"/v1/exports/contacts", "query_string": b"format=csv",
             "root_path": "", "headers": [(b"host", b"conversation")], "client": ("127.0.0.1", 50000),
             "server": ("conversation", 80)}
    await crm.app(scope, receive, send)

    body = b"".join(chunks).decode()
    rows = _csv(body)
    assert len(rows) == total and rows[0]["wa_id"] == "5521000000000" and rows[-1]["profile_name"] == "Customer 2999"
    assert len(chunks) > 3, "the export went out in several pieces"
    assert 0 < rows_read_at_first_chunk[0] < total / 2, "the first bytes left before most rows were even read"
    assert max(len(chunk) for chunk in chunks) < 256 * 1024, "no piece holds the whole export"
    assert uuid.UUID(rows[0]["id"])
