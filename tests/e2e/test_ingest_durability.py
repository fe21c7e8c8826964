"""Ingest never loses an acknowledged webhook: not under load, not when SIGKILLed mid-flight."""

from __future__ import annotations

import asyncio
import base64
import signal
import uuid

import httpx
import pytest

from parley.devstack.catalog import SERVICES
from parley.devstack.stack import Platform
from tests.support import meta
from tests.support.kafka import collect
from tests.support.platform import eventually

pytestmark = pytest.mark.e2e

WEBHOOKS = 400


def _env(platform: Platform) -> dict[str, str]:
    return platform.service_env(next(s for s in SERVICES if s.name == "ingest"))


async def _post_until_acknowledged(client: httpx.AsyncClient, url: str, body: bytes, secret: str,
                                   acknowledged: list[str], gate: asyncio.Semaphore,
                                   quarter: asyncio.Event) -> None:
    """Like Meta: anything but a 200 (or no answer at all) is retried until it is acknowledged."""
    while True:
        async with gate:
            try:
                response = await client.post(url, content=body, headers=meta.signed_headers(body, secret))
            except httpx.TransportError:
                response = None
        if response is not None and response.status_code == 200:
            acknowledged.append(response.json()["webhook_id"])
            if len(acknowledged) >= WEBHOOKS // 4:
                quarter.set()
            return
        await asyncio.sleep(0.2)


async def test_sigkill_mid_flight_loses_no_acknowledged_webhook(running_platform: Platform) -> None:
    env = _env(running_platform)
    url = f"{running_platform.url('ingest')}/webhooks/whatsapp"
    customer = f"55319{uuid.uuid4().int % 10**8:08d}"
    messages = [meta.inbound("text", {"body": f"load {i}"}, sender=customer) for i in range(WEBHOOKS)]
    bodies = [meta.encode(meta.notification(env["PARLEY_DEMO_PHONE_NUMBER_ID"], messages=[m],
                                            contacts=[{"profile": {"name": "Load"}, "wa_id": customer}]))
              for m in messages]
    acknowledged: list[str] = []
    gate, quarter = asyncio.Semaphore(16), asyncio.Event()
    async with httpx.AsyncClient(timeout=10) as client:
        senders = [asyncio.create_task(_post_until_acknowledged(client, url, body, env["INGEST_APP_SECRETS"],
                                                                acknowledged, gate, quarter)) for body in bodies]
        await quarter.wait()
        await asyncio.to_thread(running_platform.stop_service, "ingest", signal.SIGKILL)
        killed_after = len(acknowledged)
        running_platform.start_services(only=["ingest"])
        await asyncio.to_thread(running_platform.wait_ready, 120.0, ["ingest"])
        await asyncio.gather(*senders)
    assert killed_after < WEBHOOKS, "the kill happened while webhooks were still arriving"

    prefix, bootstrap = running_platform.environ["KAFKA_TOPIC_PREFIX"], running_platform.infra.kafka_bootstrap
    expected = set(acknowledged)
    received = await collect(bootstrap, f"{prefix}webhook.received",
                             lambda rs: expected <= {r["data"]["webhook_id"] for r in rs})
    assert expected <= {r["data"]["webhook_id"] for r in received}, "every 200 reached webhook.received"

    wamids = {m["id"] for m in messages}
    # Generous: the normalizer runs behind a SIGKILL, a restart and a consumer group rejoin on a loaded machine.
    normalized = await collect(bootstrap, f"{prefix}message.received",
                               lambda rs: wamids <= {r["data"]["wamid"] for r in rs}, within=240.0)
    # The bus is at-least-once: a relay killed between publishing and marking may publish an event again,
    # under the same event id, which consumers skip. A second *distinct* event for one wamid would be a bug.
    events_per_wamid: dict[str, set[str]] = {}
    for record in normalized:
        if record["data"]["wamid"] in wamids:
            events_per_wamid.setdefault(record["data"]["wamid"], set()).add(record["headers"]["ce_id"])
    assert set(events_per_wamid) == wamids, "every acknowledged message was normalized"
    twice = {wamid: ids for wamid, ids in events_per_wamid.items() if len(ids) > 1}
    assert not twice, "each message exactly once, even when Meta had to resend it"


def test_oversized_body_is_refused_with_413(running_platform: Platform) -> None:
    env = _env(running_platform)
    body = b"{" + b" " * (4 * 1024 * 1024) + b"}"
    response = httpx.post(f"{running_platform.url('ingest')}/webhooks/whatsapp", content=body,
                          headers=meta.signed_headers(body, env["INGEST_APP_SECRETS"]))
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


def test_authentic_but_unreadable_webhook_is_stored_quarantined_and_listed(running_platform: Platform) -> None:
    env = _env(running_platform)
    body = ('{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages",'
            f'"value":{{"metadata":{{"phone_number_id":"{env["PARLEY_DEMO_PHONE_NUMBER_ID"]}"}},'
            '"messages":[{"from":"1","id":"wamid.q' + uuid.uuid4().hex + '","timestamp":"soon","type":"text",'
            '"text":{"body":"caf\\u00e9"}}]}}]}]}').encode()
    stored = httpx.post(f"{running_platform.url('ingest')}/webhooks/whatsapp", content=body,
                        headers=meta.signed_headers(body, env["INGEST_APP_SECRETS"]))
    assert stored.status_code == 200
    webhook_id = stored.json()["webhook_id"]
    admin = {"Authorization": "Bearer " + env.get("INGEST_ADMIN_TOKEN", "dev-only-admin-token")}
    base = f"{running_platform.url('ingest')}/admin/webhooks"

    def quarantined() -> dict | None:
        listed = httpx.get(base, params={"status": "quarantined", "limit": 500}, headers=admin).json()["data"]
        return next((w for w in listed if w["id"] == webhook_id), None)

    found = eventually(quarantined, "the webhook to be quarantined and listed")
    assert "bad timestamp" in found["status_reason"]
    detail = httpx.get(f"{base}/{webhook_id}", headers=admin).json()
    assert base64.b64decode(detail["body_base64"]) == body, "stored byte-exact, so the signature still verifies"
    assert httpx.get(base, headers={"Authorization": "Bearer wrong"}).status_code == 401
    replay = httpx.post(f"{base}/replay", json={"ids": [webhook_id]}, headers=admin)
    assert (replay.status_code, replay.json()["replayed"]) == (200, 1)
    refused = httpx.post(f"{base}/replay", json={"ids": [webhook_id], "status": "parked"}, headers=admin)
    assert refused.status_code == 422 and refused.json()["success"] is False


def _counter(platform: Platform, outcome: str) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(f"{platform.url('ingest')}/metrics").text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "parley_ingest_webhook_requests_total" and sample.labels.get("outcome") == outcome:
                return sample.value
    return 0.0


def test_unsigned_and_forged_webhooks_are_counted_and_never_stored(running_platform: Platform) -> None:
    import asyncio as _asyncio

    import asyncpg

    env = _env(running_platform)
    body = meta.encode(meta.text_notification(env["PARLEY_DEMO_PHONE_NUMBER_ID"], "5511900000001",
                                              f"forged {uuid.uuid4()}"))
    url = f"{running_platform.url('ingest')}/webhooks/whatsapp"
    missing, invalid = _counter(running_platform, "signature_missing"), _counter(running_platform, "signature_invalid")
    assert httpx.post(url, content=body).status_code == 401
    assert httpx.post(url, content=body, headers=meta.signed_headers(body, "guess")).status_code == 403
    assert _counter(running_platform, "signature_missing") == missing + 1
    assert _counter(running_platform, "signature_invalid") == invalid + 1

    async def stored() -> int:
        conn = await asyncpg.connect(running_platform.infra.admin_database_url)
        try:
            return await conn.fetchval("select count(*) from ingest.webhook_events where body = $1", body)
        finally:
            await conn.close()

    assert _asyncio.run(stored()) == 0
