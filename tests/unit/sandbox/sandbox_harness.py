"""Helpers of the sandbox unit tests: a frozen clock, an in-process webhook receiver, request shortcuts."""

from __future__ import annotations

import asyncio
import inspect
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from parley.sandbox.settings import ChaosSettings, SandboxSettings

TOKEN = "dev-only-sandbox-token"
NUMBER = "100000000000001"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


class FrozenClock:
    """Time stands still until a test moves it: rate-limit checks without sleeping."""

    def __init__(self) -> None:
        self.wall, self.mono = 1_760_000_000.0, 1_000.0

    def time(self) -> float:
        return self.wall

    def monotonic(self) -> float:
        return self.mono

    def advance(self, seconds: float) -> None:
        self.wall += seconds
        self.mono += seconds


@dataclass
class Receiver:
    """An ASGI webhook endpoint that records every POST and answers with queued status codes."""

    answers: list[int] = field(default_factory=list)
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        self.requests.append((headers, body))
        status = self.answers.pop(0) if self.answers else 200
        await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"ok"})


def settings(**overrides: Any) -> SandboxSettings:
    values: dict[str, Any] = {"webhook_url": "http://receiver/webhooks/whatsapp", "chaos": ChaosSettings(),
                              "status_sent_delay_ms": 0, "status_delivered_delay_ms": 0, "status_read_delay_ms": 0,
                              "webhook_retry_initial_seconds": 0.01, "webhook_batch_window_ms": 20}
    return SandboxSettings(**{**values, **overrides})


async def send(client: httpx.AsyncClient, message: dict[str, Any], *, number: str = NUMBER,
               headers: dict[str, str] | None = None) -> httpx.Response:
    body = {"messaging_product": "whatsapp", "recipient_type": "individual", **message}
    return await client.post(f"/v23.0/{number}/messages", json=body, headers=AUTH if headers is None else headers)


async def customer_says(client: httpx.AsyncClient, wa_id: str, text: str = "hi", **extra: Any) -> dict[str, Any]:
    """The customer messages the demo number, which opens the 24-hour window."""
    response = await client.post(f"/sandbox/customers/{wa_id}/messages",
                                 json={"type": "text", "text": {"body": text}, **extra})
    assert response.status_code == 200, response.text
    return response.json()


def error_of(response: httpx.Response) -> dict[str, Any]:
    """The ``error`` object, after checking it has every field of Meta's error shape."""
    error = response.json()["error"]
    assert error["message"].startswith(f"(#{error['code']}) ")
    assert error["type"] == "OAuthException"
    assert error["error_data"]["messaging_product"] == "whatsapp"
    assert error["error_data"]["details"]
    assert error["fbtrace_id"]
    return error


async def eventually(condition: Any, *, within: float = 10.0, message: str = "condition") -> Any:
    """Poll ``condition()`` (sync or async) until it returns something truthy; a generous deadline, no timing
    assumptions."""
    deadline = time.monotonic() + within
    while True:
        result = condition()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{message} not reached within {within} s")
        await asyncio.sleep(0.01)
