"""Generic inbound hooks against real Postgres (and, for the last tests, the whole running platform).

In-process tests build ingest's app with ``build()`` and stand in for the gateway's token with a
principal of the test's choosing (so tenants and roles can vary); the running-platform tests log
in as the demo owner and read what reached Kafka.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import asyncpg
import httpx
import pytest
from sqlalchemy import Table, func, make_url, select
from standardwebhooks.webhooks import Webhook

from parley.devstack.catalog import SERVICES
from parley.devstack.stack import Platform
from parley.ingest import service as ingest_service
from parley.ingest.hooks import service as hooks
from parley.ingest.hooks.endpoints import router as hooks_router
from parley.ingest.hooks.models import InboundHook, data_keys
from parley.ingest.hooks.projection import with_hooks
from parley.ingest.main import build
from parley.ingest.models import WebhookRecord, kit_tables
from parley.ingest.settings import IngestSettings
from parley.kit.auth import Principal, current_principal
from parley.kit.cli import rewrap_keys
from parley.kit.crypto import CryptoError, DataKeyMissing, Keyring, TenantCipher, define_data_keys_table
from parley.kit.db import service_metadata
from parley.kit.service import Service
from tests.support.kafka import collect

pytestmark = pytest.mark.integration

INGEST = next(s for s in SERVICES if s.name == "ingest")
PURCHASE = {"event": "PURCHASE_APPROVED",
            "data": {"buyer": {"name": "Ana Souza", "checkout_phone": "(11) 98765-4321"},
                     "product": {"name": "Curso de Inglês"}, "items": [{"sku": "ING-01"}],
                     "purchase": {"price": {"value": 197.0}}}}
PURCHASE_HOOK = {
    "event": "purchase.approved", "default_region": "BR", "signature": {"scheme": "standard-webhooks"},
    "mapping": {"phone": "data.buyer.checkout_phone",
                "variables": {"buyer_name": "data.buyer.name", "product": "data.product.name",
                              "sku": "data.items[0].sku"}},
}
LEAD_HOOK = {
    "event": "lead.created", "signature": {"scheme": "hmac-sha256", "header": "X-Grapfy-Signature",
                                           "prefix": "sha256="},
    "mapping": {"phone": "lead.phone", "variables": {"name": "lead[name]", "source": "utm.source"}},
}


def standard_headers(secret: str, body: bytes) -> dict[str, str]:
    msg_id, now = f"msg_{uuid.uuid4().hex}", datetime.now(UTC)
    return {"content-type": "application/json", "webhook-id": msg_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": Webhook(secret).sign(msg_id, now, body.decode())}


def hmac_headers(secret: str, body: bytes, content_type: str = "application/x-www-form-urlencoded") -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"content-type": content_type, "X-Grapfy-Signature": f"sha256={digest}"}


def lead_form() -> bytes:
    # Flat keys as a form sends them: a PHP-style bracket key, a dotted key, and a repeated key.
    return urlencode([("lead.phone", "+55 21 99876-5432"), ("lead[name]", "Bruno Lima"),
                      ("utm.source", "instagram"), ("tags", "vip"), ("tags", "pix")]).encode()


@dataclass
class Harness:
    service: Service
    client: httpx.AsyncClient
    principal: Principal = field(default_factory=lambda: Principal(uuid.uuid4(), uuid.uuid4(), "owner"))

    def act_as(self, role: str, tenant_id: uuid.UUID | None = None) -> None:
        self.principal = Principal(tenant_id or self.principal.tenant_id, uuid.uuid4(), role)

    async def create(self, name: str | None = None, **hook: Any) -> dict[str, Any]:
        response = await self.client.post("/v1/hooks", json={"name": name or f"hook-{uuid.uuid4().hex[:8]}",
                                                             **hook})
        assert response.status_code == 201, response.text
        return response.json()

    async def record(self, webhook_id: str) -> WebhookRecord:
        async with self.service.db.unit_of_work() as session:
            found = await session.get(WebhookRecord, uuid.UUID(webhook_id))
            assert found is not None
            return found

    async def process(self, webhook_id: str) -> str:
        """What the normalize consumer does: scoped to the delivery's tenant (system scope without one)."""
        tenant = (await self.record(webhook_id)).tenant_id
        async with self.service.db.unit_of_work(tenant_id=tenant, system=tenant is None) as session:
            return await ingest_service.process_webhook(session, self.service.store, uuid.UUID(webhook_id),
                                                        hooks.process_generic)

    async def mapped(self, webhook_id: str) -> list[dict[str, Any]]:
        es = kit_tables.event_store
        async with self.service.db.unit_of_work() as session:
            rows = await session.scalars(select(es.c.envelope).where(es.c.event_type == "webhook.mapped",
                                                                     es.c.aggregate_id == webhook_id))
            return list(rows)

    async def stored_for(self, hook_id: str) -> int:
        async with self.service.db.unit_of_work() as session:
            return int(await session.scalar(select(func.count()).select_from(WebhookRecord)
                                            .where(WebhookRecord.hook_id == uuid.UUID(hook_id))) or 0)


@pytest.fixture
async def ingest(platform: Platform) -> AsyncIterator[Harness]:
    built = build(IngestSettings(database_url=platform.database_url(INGEST)))
    # Until main.py wires the hook projection itself (harmless once it does).
    built.store.projector = with_hooks(built.store.projector)
    await built.migrate()
    app = built.create_app()
    if not any(getattr(route, "path", "") == "/hooks/{hook_id}" for route in app.routes):
        app.include_router(hooks_router)
    harness = Harness(built, httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ingest"))
    app.dependency_overrides[current_principal] = lambda: harness.principal
    intake = asyncio.create_task(app.state.intake.run())
    try:
        yield harness
    finally:
        intake.cancel()
        await asyncio.gather(intake, return_exceptions=True)
        await harness.client.aclose()
        await built.db.dispose()


async def test_a_hook_shows_its_secret_once_and_stores_it_encrypted(ingest: Harness) -> None:
    created = await ingest.create(**PURCHASE_HOOK)
    assert created["secret"].startswith("whsec_")
    assert created["receive_path"] == f"/hooks/{created['id']}"
    assert created["mapping"]["phone"] == "data.buyer.checkout_phone" and created["active"] is True

    shown = await ingest.client.get(f"/v1/hooks/{created['id']}")
    assert shown.status_code == 200 and "secret" not in shown.json()
    listed = (await ingest.client.get("/v1/hooks")).json()
    assert [h["id"] for h in listed["data"]] == [created["id"]] and "secret" not in listed["data"][0]
    async with ingest.service.db.unit_of_work(tenant_id=ingest.principal.tenant_id) as session:
        row = await session.get(InboundHook, uuid.UUID(created["id"]))
        assert row is not None and created["secret"].encode() not in row.secret_ciphertext
        es = kit_tables.event_store
        history = await session.scalars(select(es.c.envelope).where(es.c.aggregate_id == created["id"]))
        assert created["secret"] not in json.dumps(list(history)), "the event store holds ciphertext only"


async def test_hooks_list_in_pages(ingest: Harness) -> None:
    ids = [(await ingest.create(**LEAD_HOOK))["id"] for _ in range(3)]
    first = (await ingest.client.get("/v1/hooks", params={"limit": 2})).json()
    second = (await ingest.client.get("/v1/hooks", params={"limit": 2,
                                                          "cursor": first["pagination"]["next_cursor"]})).json()
    assert first["pagination"]["has_more"] is True and second["pagination"]["has_more"] is False
    assert [h["id"] for h in first["data"] + second["data"]] == ids[::-1]
    assert (await ingest.client.get("/v1/hooks", params={"cursor": "bogus"})).status_code == 400


async def test_bad_mappings_are_refused_with_the_path_and_the_problem(ingest: Harness) -> None:
    bad = {**PURCHASE_HOOK, "mapping": {"phone": "data..phone", "variables": {"sku": "items[0"}}}
    response = await ingest.client.post("/v1/hooks", json={"name": "broken", **bad})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_mapping"
    assert "mapping.phone: `data..phone` has an empty field name at character 6" in error["message"]
    assert "mapping.variables.sku: `items[0` has an unclosed `[`" in error["message"]
    assert [d["field"] for d in error["details"]] == ["mapping.phone", "mapping.variables.sku"]

    against_sample = await ingest.client.post("/v1/hooks", json={"name": "sampled", **PURCHASE_HOOK, "sample": {
        "data": {"buyer": {"name": "Ana", "phone": "11987654321"}, "product": {}, "items": []}}})
    assert against_sample.status_code == 422
    details = against_sample.json()["error"]["details"]
    assert {d["path"]: d["problem"] for d in details} == {
        "data.buyer.checkout_phone": "`data.buyer.checkout_phone` is not in the sample: `data.buyer` has no field "
                                     "`checkout_phone` (it has: name, phone)",
        "data.product.name": "`data.product.name` is not in the sample: `data.product` has no field `name` "
                             "(it has: no fields)",
        "data.items[0].sku": "`data.items[0].sku` is not in the sample: `data.items` has 0 item(s); index 0 is "
                             "out of range",
    }
    fits = await ingest.client.post("/v1/hooks", json={"name": "sampled", **PURCHASE_HOOK, "sample": PURCHASE})
    assert fits.status_code == 201, fits.text

    wrong_options = await ingest.client.post("/v1/hooks", json={
        "name": "opts", **PURCHASE_HOOK, "signature": {"scheme": "standard-webhooks", "header": "X-Sig"}})
    assert wrong_options.status_code == 422 and wrong_options.json()["error"]["code"] == "validation_error"


async def test_other_tenants_and_agents_cannot_manage_hooks(ingest: Harness) -> None:
    created = await ingest.create(**PURCHASE_HOOK)
    assert (await ingest.client.post("/v1/hooks", json={"name": created["name"], **PURCHASE_HOOK})).status_code \
        == 409
    owner_tenant = ingest.principal.tenant_id

    ingest.act_as("agent")
    assert (await ingest.client.get(f"/v1/hooks/{created['id']}")).status_code == 200
    forbidden = await ingest.client.post("/v1/hooks", json={"name": "agent-made", **PURCHASE_HOOK})
    assert forbidden.status_code == 403 and forbidden.json()["error"]["code"] == "forbidden"
    assert (await ingest.client.delete(f"/v1/hooks/{created['id']}")).status_code == 403

    ingest.act_as("owner", tenant_id=uuid.uuid4())
    for response in (await ingest.client.get(f"/v1/hooks/{created['id']}"),
                     await ingest.client.patch(f"/v1/hooks/{created['id']}", json={"active": False}),
                     await ingest.client.post(f"/v1/hooks/{created['id']}/rotate-secret"),
                     await ingest.client.delete(f"/v1/hooks/{created['id']}")):
        assert response.status_code == 404 and response.json()["error"]["code"] == "hook_not_found"
    assert (await ingest.client.get("/v1/hooks")).json()["data"] == []
    # Another tenant may use the same name.
    await ingest.create(name=created["name"], **PURCHASE_HOOK)

    ingest.act_as("manager", tenant_id=owner_tenant)
    assert (await ingest.client.delete(f"/v1/hooks/{created['id']}")).status_code == 204
    assert (await ingest.client.get(f"/v1/hooks/{created['id']}")).status_code == 404


async def test_signed_json_is_stored_byte_exact_and_mapped_to_the_business_event(ingest: Harness) -> None:
    hook = await ingest.create(**PURCHASE_HOOK)
    body = json.dumps(PURCHASE, ensure_ascii=False, indent=1).encode()  # non-ASCII, whitespace: kept as sent
    response = await ingest.client.post(hook["receive_path"], content=body,
                                        headers=standard_headers(hook["secret"], body))
    assert response.status_code == 200, response.text
    webhook_id = response.json()["webhook_id"]

    record = await ingest.record(webhook_id)
    assert record.body == body and record.kind == "generic"
    assert record.tenant_id == ingest.principal.tenant_id and str(record.hook_id) == hook["id"]
    assert record.headers["webhook-id"].startswith("msg_"), "signature headers are kept for re-verification"

    assert await ingest.process(webhook_id) == "processed"
    assert await ingest.process(webhook_id) == "processed", "a redelivery maps nothing twice"
    [event] = await ingest.mapped(webhook_id)
    assert event["tenantid"] == str(ingest.principal.tenant_id)
    assert event["data"] == {
        "webhook_id": webhook_id, "hook_id": hook["id"], "hook": hook["name"], "event": "purchase.approved",
        "phone": "5511987654321", "received_at": event["data"]["received_at"],
        "variables": {"buyer_name": "Ana Souza", "product": "Curso de Inglês", "sku": "ING-01"},
    }


async def test_signed_form_bodies_map_flat_keys(ingest: Harness) -> None:
    hook = await ingest.create(**LEAD_HOOK)
    body = lead_form()
    response = await ingest.client.post(hook["receive_path"], content=body, headers=hmac_headers(hook["secret"], body))
    assert response.status_code == 200, response.text
    webhook_id = response.json()["webhook_id"]
    assert (await ingest.record(webhook_id)).body == body
    assert await ingest.process(webhook_id) == "processed"
    [event] = await ingest.mapped(webhook_id)
    assert (event["data"]["event"], event["data"]["phone"]) == ("lead.created", "5521998765432")
    assert event["data"]["variables"] == {"name": "Bruno Lima", "source": "instagram"}


async def test_missing_or_bad_signatures_are_refused_and_nothing_is_stored(ingest: Harness) -> None:
    hook = await ingest.create(**LEAD_HOOK)
    body = lead_form()
    missing = await ingest.client.post(hook["receive_path"], content=body,
                                       headers={"content-type": "application/x-www-form-urlencoded"})
    assert missing.status_code == 401
    assert missing.json()["error"] == {"code": "signature_missing", "message": "the X-Grapfy-Signature header is "
                                                                              "required", "details": None}
    forged = await ingest.client.post(hook["receive_path"], content=body + b"&admin=1",
                                      headers=hmac_headers(hook["secret"], body))
    assert forged.status_code == 403 and forged.json()["error"]["code"] == "signature_invalid"
    other_secret = await ingest.client.post(hook["receive_path"], content=body,
                                            headers=hmac_headers("x" * 32, body))
    assert other_secret.status_code == 403
    assert await ingest.stored_for(hook["id"]) == 0

    unknown = await ingest.client.post(f"/hooks/{uuid.uuid4()}", content=body, headers=hmac_headers("x", body))
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "hook_not_found"
    assert (await ingest.client.post("/hooks/not-a-uuid", content=body)).status_code == 404


async def test_authentic_but_unreadable_bodies_are_stored_then_quarantined(ingest: Harness) -> None:
    hook = await ingest.create(**PURCHASE_HOOK)
    body = b'["not", "an", "object"]'
    response = await ingest.client.post(hook["receive_path"], content=body,
                                        headers=standard_headers(hook["secret"], body))
    assert response.status_code == 200
    webhook_id = response.json()["webhook_id"]
    assert await ingest.process(webhook_id) == "quarantined"
    record = await ingest.record(webhook_id)
    assert record.body == body and record.status_reason == "the JSON body is list, not an object"
    assert await ingest.mapped(webhook_id) == []


async def test_oversized_bodies_are_refused(ingest: Harness) -> None:
    hook = await ingest.create(**PURCHASE_HOOK)
    response = await ingest.client.post(hook["receive_path"], content=b"{" + b" " * (4 * 1024 * 1024) + b"}")
    assert response.status_code == 413 and response.json()["error"]["code"] == "payload_too_large"


async def test_rotation_accepts_both_secrets_for_the_grace_period(ingest: Harness) -> None:
    hook = await ingest.create(**PURCHASE_HOOK)
    rotated = await ingest.client.post(f"/v1/hooks/{hook['id']}/rotate-secret", json={"grace_period_seconds": 600})
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()
    assert new["secret"] != hook["secret"] and new["previous_secret_expires_at"] is not None
    body = json.dumps(PURCHASE).encode()
    for secret in (hook["secret"], new["secret"]):
        response = await ingest.client.post(hook["receive_path"], content=body, headers=standard_headers(secret, body))
        assert response.status_code == 200

    again = (await ingest.client.post(f"/v1/hooks/{hook['id']}/rotate-secret",
                                      json={"grace_period_seconds": 0})).json()
    refused = await ingest.client.post(hook["receive_path"], content=body,
                                       headers=standard_headers(new["secret"], body))
    assert refused.status_code == 403
    accepted = await ingest.client.post(hook["receive_path"], content=body,
                                        headers=standard_headers(again["secret"], body))
    assert accepted.status_code == 200


async def test_changing_a_mapping_applies_to_what_is_processed_next(ingest: Harness) -> None:
    hook = await ingest.create(**LEAD_HOOK)
    bad = await ingest.client.patch(f"/v1/hooks/{hook['id']}", json={"mapping": {"phone": "lead..phone"}})
    assert bad.status_code == 422
    changed = await ingest.client.patch(f"/v1/hooks/{hook['id']}", json={
        "event": "lead.qualified", "mapping": {"phone": "lead.phone", "event_path": "stage",
                                               "variables": {"tags": "tags"}}})
    assert changed.status_code == 200, changed.text
    assert changed.json()["event"] == "lead.qualified" and changed.json()["name"] == hook["name"]
    body = lead_form()
    webhook_id = (await ingest.client.post(hook["receive_path"], content=body,
                                           headers=hmac_headers(hook["secret"], body))).json()["webhook_id"]
    await ingest.process(webhook_id)
    [event] = await ingest.mapped(webhook_id)
    assert event["data"]["event"] == "lead.qualified"
    assert event["data"]["variables"] == {"tags": ["vip", "pix"]}

    paused = await ingest.client.patch(f"/v1/hooks/{hook['id']}", json={"active": False})
    assert paused.json()["active"] is False
    refused = await ingest.client.post(hook["receive_path"], content=body, headers=hmac_headers(hook["secret"], body))
    assert refused.status_code == 404


async def test_hooks_are_rebuilt_from_their_events(ingest: Harness) -> None:
    hook = await ingest.create(**LEAD_HOOK)
    await ingest.client.patch(f"/v1/hooks/{hook['id']}", json={"event": "lead.updated"})
    await ingest.client.post(f"/v1/hooks/{hook['id']}/rotate-secret")
    gone = await ingest.create(**LEAD_HOOK)
    await ingest.client.delete(f"/v1/hooks/{gone['id']}")
    table = InboundHook.__table__

    async def snapshot() -> list[tuple[Any, ...]]:
        async with ingest.service.db.unit_of_work(system=True) as session:
            return sorted(tuple(r) for r in await session.execute(select(table)))

    before = await snapshot()
    async with ingest.service.db.unit_of_work(system=True) as session:
        await ingest.service.store.rebuild(session, [table])
    assert await snapshot() == before


@pytest.fixture
async def scratch_keys(ingest: Harness) -> AsyncIterator[Table]:
    """A data key table of the test's own, so a master key rotation here leaves every other tenant alone."""
    table = define_data_keys_table(service_metadata("ingest"), f"data_keys_{uuid.uuid4().hex[:8]}")
    async with ingest.service.db.engine.begin() as connection:
        await connection.run_sync(table.create)
    yield table
    async with ingest.service.db.engine.begin() as connection:
        await connection.run_sync(table.drop)


async def test_data_keys_are_created_once_rewrapped_on_rotation_and_shredded(ingest: Harness,
                                                                             scratch_keys: Table) -> None:
    old_entry, new_entry = Keyring.generate_entry("old"), Keyring.generate_entry("new")
    cipher = TenantCipher(Keyring.parse(old_entry), scratch_keys)
    tenant, context = uuid.uuid4(), b"test.table.column:1"

    async def encrypt(plaintext: bytes) -> bytes:
        async with ingest.service.db.unit_of_work() as session:
            return await cipher.encrypt(session, tenant, plaintext, context)

    # Two first uses at once: one data key wins and both ciphertexts open with it.
    first, second = await asyncio.gather(encrypt(b"one"), encrypt(b"two"))
    async with ingest.service.db.unit_of_work() as session:
        assert await cipher.decrypt(session, tenant, first, context) == b"one"
        assert await cipher.decrypt(session, tenant, second, context) == b"two"
        with pytest.raises(CryptoError):
            await cipher.decrypt(session, tenant, first, b"test.table.column:2")

    cipher.keyring = Keyring.parse(f"{new_entry},{old_entry}")
    async with ingest.service.db.unit_of_work() as session:
        assert await cipher.rewrap_all(session) == 1
        kid = await session.scalar(select(scratch_keys.c.master_kid).where(scratch_keys.c.tenant_id == tenant))
        assert kid == "new"
    cipher.keyring = Keyring.parse(new_entry)  # the old master key is gone for good
    async with ingest.service.db.unit_of_work() as session:
        assert await cipher.decrypt(session, tenant, first, context) == b"one"

        assert await cipher.shred(session, tenant) is True
        with pytest.raises(DataKeyMissing):
            await cipher.decrypt(session, tenant, first, context)
    await encrypt(b"new data gets a new key")
    async with ingest.service.db.unit_of_work() as session:
        with pytest.raises(CryptoError):
            await cipher.decrypt(session, tenant, first, context)


async def test_shredding_a_tenant_key_makes_its_hooks_unusable(ingest: Harness) -> None:
    hook = await ingest.create(**PURCHASE_HOOK)
    async with ingest.service.db.unit_of_work(tenant_id=ingest.principal.tenant_id) as session:
        await TenantCipher(Keyring.parse("x:" + "A" * 43 + "="), data_keys).shred(session, ingest.principal.tenant_id)
    body = json.dumps(PURCHASE).encode()
    response = await ingest.client.post(hook["receive_path"], content=body,
                                        headers=standard_headers(hook["secret"], body))
    assert response.status_code == 404


# -- the running platform: the lead's wiring, the gateway's tokens, Kafka ----------------------


def _auth(platform: Platform) -> dict[str, str]:
    env = platform.service_env(SERVICES[0])
    response = httpx.post(f"{platform.url('gateway')}/v1/auth/login",
                          json={"email": env["PARLEY_DEMO_EMAIL"], "password": env["PARLEY_DEMO_PASSWORD"]})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def _admin_scalar(platform: Platform, sql: str, webhook_or_hook_id: str) -> Any:
    """Read ingest's tables as the admin, as an operator would (the test is not ingest)."""
    dsn = make_url(platform.infra.admin_database_url).set(drivername="postgresql")
    connection = await asyncpg.connect(dsn.render_as_string(hide_password=False))
    try:
        return await connection.fetchval(sql, uuid.UUID(webhook_or_hook_id))
    finally:
        await connection.close()


async def _raw_body(platform: Platform, webhook_id: str) -> bytes | None:
    return await _admin_scalar(platform, "select body from ingest.webhook_events where id = $1", webhook_id)


async def _stored_count(platform: Platform, hook_id: str) -> int:
    return int(await _admin_scalar(platform, "select count(*) from ingest.webhook_events where hook_id = $1",
                                   hook_id))


async def test_running_platform_maps_signed_json_and_form_hooks_onto_kafka(running_platform: Platform) -> None:
    ingest_url, auth = running_platform.url("ingest"), _auth(running_platform)
    async with httpx.AsyncClient(base_url=ingest_url, headers=auth) as client:
        purchase = (await client.post("/v1/hooks", json={"name": f"purchases-{uuid.uuid4().hex[:6]}",
                                                         **PURCHASE_HOOK}))
        lead = (await client.post("/v1/hooks", json={"name": f"leads-{uuid.uuid4().hex[:6]}", **LEAD_HOOK}))
        assert purchase.status_code == 201 and lead.status_code == 201, (purchase.text, lead.text)
        purchase_hook, lead_hook = purchase.json(), lead.json()
        listed = (await client.get(f"/v1/hooks/{purchase_hook['id']}")).json()
        assert listed["id"] == purchase_hook["id"] and "secret" not in listed
        bad = await client.post("/v1/hooks", json={"name": "bad", **LEAD_HOOK, "mapping": {"phone": "a[0"}})
        assert bad.status_code == 422 and "`a[0` has an unclosed `[`" in bad.json()["error"]["message"]
        assert (await client.get(f"/v1/hooks/{uuid.uuid4()}")).status_code == 404

    json_body = json.dumps(PURCHASE, ensure_ascii=False).encode()
    form_body = lead_form()
    async with httpx.AsyncClient(base_url=ingest_url) as sender:
        stored_json = await sender.post(purchase_hook["receive_path"], content=json_body,
                                        headers=standard_headers(purchase_hook["secret"], json_body))
        stored_form = await sender.post(lead_hook["receive_path"], content=form_body,
                                        headers=hmac_headers(lead_hook["secret"], form_body))
        forged = await sender.post(lead_hook["receive_path"], content=form_body,
                                   headers=hmac_headers("not-the-secret", form_body))
    assert stored_json.status_code == 200 and stored_form.status_code == 200, (stored_json.text, stored_form.text)
    assert forged.status_code == 403
    ids = {stored_json.json()["webhook_id"], stored_form.json()["webhook_id"]}

    prefix = running_platform.environ["KAFKA_TOPIC_PREFIX"]
    records = await collect(running_platform.infra.kafka_bootstrap, f"{prefix}webhook.received", lambda rs: ids <= {
        r["data"]["webhook_id"] for r in rs if r["headers"].get("ce_type") == "webhook.mapped"})
    mapped = {r["data"]["webhook_id"]: r["data"] for r in records if r["headers"].get("ce_type") == "webhook.mapped"}
    assert ids <= set(mapped), "both deliveries reached webhook.received as webhook.mapped"
    purchase_event = mapped[stored_json.json()["webhook_id"]]
    assert (purchase_event["event"], purchase_event["phone"]) == ("purchase.approved", "5511987654321")
    assert purchase_event["variables"] == {"buyer_name": "Ana Souza", "product": "Curso de Inglês", "sku": "ING-01"}
    lead_event = mapped[stored_form.json()["webhook_id"]]
    assert (lead_event["event"], lead_event["phone"], lead_event["hook"]) == \
        ("lead.created", "5521998765432", lead_hook["name"])
    assert lead_event["variables"] == {"name": "Bruno Lima", "source": "instagram"}

    assert await _raw_body(running_platform, stored_json.json()["webhook_id"]) == json_body
    assert await _raw_body(running_platform, stored_form.json()["webhook_id"]) == form_body
    assert await _stored_count(running_platform, lead_hook["id"]) == 1, "the forged delivery was not stored"


async def test_rewrap_command_moves_data_keys_to_the_current_master_key(ingest: Harness) -> None:
    await ingest.create(**PURCHASE_HOOK)  # this tenant now has a data key under the dev master key
    message = await rewrap_keys(ingest.service, [])
    assert message.startswith("ingest: ") and "'dev-only'" in message
