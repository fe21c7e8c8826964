"""Chaos configured by environment: every webhook event duplicated, events reordered."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import free_port
from tests.integration.sandbox.sandbox_process import NUMBER, TOKEN, SandboxProcess, WebhookReceiver, wait_for

pytestmark = pytest.mark.integration

RANK = {"sent": 0, "delivered": 1, "read": 2}


@pytest.fixture
def chaotic(tmp_path) -> Iterator[tuple[httpx.Client, WebhookReceiver]]:
    receiver = WebhookReceiver()
    env = {"SANDBOX_WEBHOOK_URL": receiver.url, "SANDBOX_CHAOS_DUPLICATE_PROBABILITY": "1",
           "SANDBOX_CHAOS_REORDER_PROBABILITY": "1", "SANDBOX_CHAOS_REORDER_WINDOW_MS": "300",
           "SANDBOX_CHAOS_DELAY_MS": "50", "SANDBOX_CHAOS_SEED": "11", "SANDBOX_STATUS_SENT_DELAY_MS": "0",
           "SANDBOX_STATUS_DELIVERED_DELAY_MS": "10", "SANDBOX_STATUS_READ_DELAY_MS": "20"}
    process = SandboxProcess(free_port(), env, tmp_path / "sandbox.log")
    try:
        with httpx.Client(base_url=process.url, timeout=10) as client:
            yield client, receiver
    finally:
        process.stop()
        receiver.close()


def test_chaos_duplicates_and_reorders_status_webhooks(chaotic: tuple[httpx.Client, WebhookReceiver]) -> None:
    sandbox, receiver = chaotic
    wamids = []
    for index in range(10):
        wa_id = f"1650555{index:04d}"
        sandbox.post(f"/sandbox/customers/{wa_id}/messages", json={"type": "text", "text": {"body": "hi"}})
        response = sandbox.post(f"/v23.0/{NUMBER}/messages", headers={"Authorization": f"Bearer {TOKEN}"},
                                json={"messaging_product": "whatsapp", "to": wa_id, "type": "text",
                                      "text": {"body": "hello"}})
        wamids.append(response.json()["messages"][0]["id"])

    def every_status_twice() -> Counter | None:
        seen = Counter((s["id"], s["status"]) for s in receiver.statuses())
        return seen if len(seen) == 30 and min(seen.values()) >= 2 else None

    seen = wait_for(every_status_twice, within=30, what="every status delivered twice")
    assert all(count == 2 for count in seen.values())
    assert all(r.signed for r in receiver.received)
    first_arrivals = list(dict.fromkeys((s["id"], RANK[s["status"]]) for s in receiver.statuses()))
    out_of_order = [w for w in wamids if (ranks := [r for i, r in first_arrivals if i == w]) != sorted(ranks)]
    assert out_of_order, "no message had its statuses reordered"  # e.g. delivered before sent
    stats = sandbox.get("/sandbox/stats").json()["webhooks"]
    assert stats["chaos"]["duplicates_injected"] == 40  # 10 inbound messages + 30 statuses
