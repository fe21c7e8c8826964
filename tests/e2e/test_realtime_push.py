"""A customer's WhatsApp message reaches an agent's open realtime socket: ingest → normalizer → conversation
→ conversation.changed → gateway fan-in → tenant stream → WebSocket, on the running platform."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import httpx
import pytest
from websockets.asyncio.client import connect

from parley.devstack.stack import Platform
from tests.support import meta
from tests.support.platform import demo_env, login

pytestmark = pytest.mark.e2e


async def _frames_until(ws, done, within: float = 90.0) -> list[dict]:
    frames: list[dict] = []
    deadline = time.monotonic() + within
    while not done(frames):
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"timed out; received {[f['type'] for f in frames]}"
        try:
            frames.append(json.loads(await asyncio.wait_for(ws.recv(), remaining)))
        except TimeoutError:
            continue
    return frames


async def test_an_inbound_message_is_pushed_to_the_owners_socket(running_platform: Platform) -> None:
    env = demo_env(running_platform)
    token = login(running_platform)["Authorization"].removeprefix("Bearer ")
    customer, text = f"55119{uuid.uuid4().int % 10**8:08d}", f"realtime hello {uuid.uuid4()}"
    url = running_platform.url("gateway").replace("http://", "ws://") + "/v1/realtime"
    async with connect(url, subprotocols=["bearer", token], open_timeout=30) as ws:
        await _frames_until(ws, lambda fs: any(f["type"] == "realtime.connected" for f in fs))
        body = meta.encode(meta.text_notification(env["PARLEY_DEMO_PHONE_NUMBER_ID"], customer, text,
                                                  name="Realtime Customer"))
        stored = await asyncio.to_thread(httpx.post, f"{running_platform.url('ingest')}/webhooks/whatsapp",
                                         content=body, headers=meta.signed_headers(body, env["INGEST_APP_SECRETS"]))
        assert stored.status_code == 200, stored.text
        frames = await _frames_until(ws, lambda fs: any(
            f["type"] == "conversation.message-added" and f["data"].get("wa_id") == customer for f in fs))

    [pushed] = [f for f in frames if f["type"] == "conversation.message-added" and f["data"]["wa_id"] == customer]
    assert pushed["data"]["direction"] == "inbound" and pushed["data"]["type"] == "text"
    assert pushed["id"].split("-")[0].isdigit()
    assert any(f["type"] == "conversation.opened" and f["data"]["wa_id"] == customer for f in frames)
    # Bodies never travel in clear (sealed under the tenant's key): the frame names the message, the
    # client reads it through the API.
    assert text not in json.dumps(pushed)
    messages = await asyncio.to_thread(
        httpx.get, f"{running_platform.url('gateway')}/v1/conversations/{pushed['data']['conversation_id']}/messages",
        headers={"Authorization": f"Bearer {token}"})
    assert messages.status_code == 200, messages.text
    assert [m["text"] for m in messages.json()["data"] if m["id"] == pushed["data"]["message_id"]] == [text]
