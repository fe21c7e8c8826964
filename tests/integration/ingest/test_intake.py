"""The webhook intake against real Postgres: group commit, byte-exact rows with their outbox events, 503s."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import httpx
import pytest

from parley.contracts import Envelope
from parley.devstack.catalog import SERVICES
from parley.devstack.stack import Platform
from parley.ingest.intake import BATCH_SIZE, WebhookIntake
from parley.ingest.main import build
from parley.ingest.settings import IngestSettings
from parley.kit.eventstore import OUTBOX_CHANNEL_PREFIX
from tests.support import meta

pytestmark = pytest.mark.integration

SECRET = "intake-test-secret"
ROUTE = "/webhooks/whatsapp"


@dataclass
class Rig:
    client: httpx.AsyncClient
    intake: WebhookIntake
    admin_url: str

    async def post(self, body: bytes, **headers: str) -> httpx.Response:
        return await self.client.post(ROUTE, content=body, headers={**meta.signed_headers(body, SECRET), **headers})

    async def fetch(self, query: str, *args: object) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(self.admin_url)
        try:
            return await conn.fetch(query, *args)
        finally:
            await conn.close()


@pytest.fixture
async def rig(platform: Platform) -> AsyncIterator[Rig]:
    spec = next(s for s in SERVICES if s.name == "ingest")
    built = build(IngestSettings(database_url=platform.database_url(spec), app_secrets=SECRET))
    await built.migrate()
    app = built.asgi_app()  # the fast path in front of FastAPI, as served
    intake: WebhookIntake = built.definition.extra_state["intake"]  # type: ignore[assignment]
    writers = asyncio.create_task(intake.run())
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ingest")
    try:
        yield Rig(client, intake, platform.infra.admin_database_url)
    finally:
        writers.cancel()
        await asyncio.gather(writers, return_exceptions=True)
        await client.aclose()
        await built.db.dispose()


def _body(number: str, text: str) -> bytes:
    return meta.encode(meta.notification(number, messages=[meta.inbound("text", {"body": text})]))


def _batches() -> tuple[float, float]:
    samples = {s.name: s.value for metric in BATCH_SIZE.collect() for s in metric.samples}
    return samples["parley_ingest_batch_size_count"], samples["parley_ingest_batch_size_sum"]


async def test_concurrent_webhooks_are_stored_byte_exact_with_their_events_in_shared_commits(rig: Rig) -> None:
    number = f"8{uuid.uuid4().int % 10**14:014d}"
    bodies = [_body(number, f"caf\u00e9 {i} {uuid.uuid4()}") for i in range(40)]
    commits_before, stored_before = _batches()
    # Hold the table while the webhooks arrive (as a slow fsync would), so they pile up behind the writers.
    blocker = await asyncpg.connect(rig.admin_url)
    held = blocker.transaction()
    await held.start()
    await blocker.execute("LOCK TABLE ingest.webhook_events IN SHARE MODE")
    try:
        posts = asyncio.gather(*(rig.post(b, Authorization="Bearer not-kept") for b in bodies))
        for _ in range(600):
            if rig.intake.unanswered == len(bodies):  # each one queued or in a batch the lock holds
                break
            await asyncio.sleep(0.05)
    finally:
        await held.rollback()
        await blocker.close()
    answers = await posts
    assert [a.status_code for a in answers] == [200] * 40
    ids = [uuid.UUID(a.json()["webhook_id"]) for a in answers]
    commits, stored = _batches()
    assert stored - stored_before == 40
    assert commits - commits_before <= 2 * rig.intake.writers, "concurrent webhooks share commits (group commit)"

    rows = {r["id"]: r for r in await rig.fetch(
        "SELECT id, body, headers, status, size_bytes, content_sha256 FROM ingest.webhook_events WHERE id = ANY($1)",
        ids)}
    for webhook_id, body in zip(ids, bodies, strict=True):
        row = rows[webhook_id]
        assert bytes(row["body"]) == body, "the raw body, byte-exact, so its signature verifies again later"
        headers = json.loads(row["headers"])
        assert headers["x-hub-signature-256"] == meta.sign(body, SECRET) and "authorization" not in headers
        # The session's running ingest (when an earlier test started it) may already have processed the row: this
        # number routes to no tenant, so it parks. Either way the webhook is kept.
        assert (row["status"], row["size_bytes"]) in {("received", len(body)), ("parked", len(body))}
        assert row["content_sha256"] == hashlib.sha256(body).hexdigest()

    events = await rig.fetch(
        "SELECT aggregate_id, version, topic, partition_key, envelope, published_at FROM ingest.event_store "
        "WHERE event_type = 'webhook.received' AND aggregate_id = ANY($1)", [str(i) for i in ids])
    assert sorted(e["aggregate_id"] for e in events) == sorted(str(i) for i in ids), "one event per webhook"
    for event in events:
        envelope = Envelope.model_validate_json(event["envelope"])
        payload = envelope.payload()
        assert str(payload.webhook_id) == event["aggregate_id"] and payload.phone_number_ids == [number]
        assert (event["version"], event["topic"], event["partition_key"]) == (1, "webhook.received", number)
        assert envelope.traceparent and envelope.subject == f"webhook/{payload.webhook_id}"


async def test_a_batch_the_database_refuses_answers_503_stores_nothing_and_the_next_one_is_stored(rig: Rig) -> None:
    number = f"8{uuid.uuid4().int % 10**14:014d}"
    poison = _body(number, f"refused {uuid.uuid4()}")
    digest = hashlib.sha256(poison).hexdigest()
    constraint = f"test_refuse_{digest[:12]}"
    await rig.fetch(f"ALTER TABLE ingest.webhook_events ADD CONSTRAINT {constraint} "
                    f"CHECK (content_sha256 <> '{digest}') NOT VALID")
    try:
        refused = await rig.post(poison)
    finally:
        await rig.fetch(f"ALTER TABLE ingest.webhook_events DROP CONSTRAINT {constraint}")
    assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
    assert refused.json() == {"success": False, "error": {
        "code": "unavailable", "message": "the webhook could not be stored; retry", "details": None}}
    assert await rig.fetch("SELECT 1 FROM ingest.webhook_events WHERE content_sha256 = $1", digest) == []
    events = await rig.fetch("SELECT 1 FROM ingest.event_store WHERE envelope->'data'->>'content_sha256' = $1",
                             digest)
    assert events == [], "the event went down with its row: one statement, all or nothing"

    retried = await rig.post(poison)  # what Meta does after a 503; the writer has a fresh connection
    assert retried.status_code == 200
    [row] = await rig.fetch("SELECT body FROM ingest.webhook_events WHERE id = $1",
                            uuid.UUID(retried.json()["webhook_id"]))
    assert bytes(row["body"]) == poison


async def test_a_generic_payload_postgres_cannot_hold_as_json_is_stored_but_not_inlined(rig: Rig) -> None:
    body = b'{"note":"nul \\u0000 inside","order":42}'
    webhook_id = await rig.intake.submit("generic", body, {"content-type": "application/json"},
                                         payload=json.loads(body), phone_number_ids=[], inline_limit=10_000,
                                         tenant_id=uuid.uuid4(), hook_id=uuid.uuid4(), hook_name="nul")
    [row] = await rig.fetch("SELECT w.body, e.envelope FROM ingest.webhook_events w JOIN ingest.event_store e "
                            "ON e.aggregate_id = w.id::text WHERE w.id = $1", webhook_id)
    assert bytes(row["body"]) == body
    assert "payload" not in json.loads(row["envelope"])["data"], "consumers read it from ingest instead"
    inlined_id = await rig.intake.submit("generic", b'{"order":43}', {}, payload={"order": 43}, phone_number_ids=[],
                                         inline_limit=10_000, tenant_id=uuid.uuid4(), hook_id=uuid.uuid4(),
                                         hook_name="ok")
    [event] = await rig.fetch("SELECT envelope FROM ingest.event_store WHERE aggregate_id = $1", str(inlined_id))
    assert json.loads(event["envelope"])["data"]["payload"] == {"order": 43}


async def test_a_committed_batch_wakes_the_outbox_relay_at_once(rig: Rig) -> None:
    """The relay LISTENs on its schema's outbox channel between polls; the intake's commit must NOTIFY it."""
    listener = await asyncpg.connect(rig.admin_url)
    woken: asyncio.Queue[str] = asyncio.Queue()
    await listener.add_listener(OUTBOX_CHANNEL_PREFIX + "ingest",
                                lambda _conn, _pid, channel, _payload: woken.put_nowait(channel))
    try:
        number = f"8{uuid.uuid4().int % 10**14:014d}"
        answer = await rig.post(_body(number, f"wake up {uuid.uuid4()}"))
        assert answer.status_code == 200
        assert await asyncio.wait_for(woken.get(), 30) == OUTBOX_CHANNEL_PREFIX + "ingest"
    finally:
        await listener.close()
