"""The few Graph API calls the sender makes (Meta's Cloud API, or the local sandbox)."""

from __future__ import annotations

import asyncio
import itertools
import math
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass(frozen=True)
class Accepted:
    wamid: str


@dataclass(frozen=True)
class Rejected:
    """Meta answered with an error: it did not accept the message."""

    code: int | None
    http_status: int
    title: str | None = None
    message: str | None = None
    details: str | None = None


@dataclass(frozen=True)
class NotSent:
    """The request never left (no connection): sending again is safe."""

    reason: str


@dataclass(frozen=True)
class Unknown:
    """The request may have reached Meta but no answer came back: the message is in doubt."""

    reason: str


SendOutcome = Accepted | Rejected | NotSent | Unknown


#: Connections per pooled client. httpcore's pool does work quadratic in its connection count on every request
#: (it counts idle connections once per idle connection, and polls each idle socket): one pool of 160 was ~40%
#: of the sender's CPU, so ``max_connections`` is spread over several small pools, used in turn.
POOL_CONNECTIONS = 16
#: An idle connection is dropped after this long, before the server would close it: a send that goes out
#: on a connection the server is closing gets no answer, and a send without an answer is in doubt (it
#: waits for Meta's status or the grace period). uvicorn, which serves the sandbox, closes after 5 s idle.
IDLE_CONNECTION_SECONDS = 4.0


class GraphClient:
    def __init__(self, base_url: str, *, timeout_seconds: float = 10.0, max_connections: int = 100,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_seconds = timeout_seconds
        pools = 1 if transport is not None else max(1, math.ceil(max_connections / POOL_CONNECTIONS))
        per_pool = math.ceil(max_connections / pools)
        self._clients = [httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_seconds), transport=transport,
            limits=httpx.Limits(max_connections=per_pool, max_keepalive_connections=per_pool,
                                keepalive_expiry=IDLE_CONNECTION_SECONDS),
        ) for _ in range(pools)]
        self._turn = itertools.cycle(self._clients)

    @property
    def _client(self) -> httpx.AsyncClient:
        return next(self._turn)

    async def close(self) -> None:
        await asyncio.gather(*(client.aclose() for client in self._clients))

    async def number_details(self, phone_number_id: str, access_token: str) -> tuple[int, dict[str, Any]]:
        """``GET /{phone_number_id}``: (HTTP status, JSON body) - proves the token can use the number."""
        response = await self._client.get(f"{self.base_url}/{phone_number_id}", headers=_auth(access_token))
        return response.status_code, json_object(response)

    async def send(self, phone_number_id: str, access_token: str, body: dict[str, Any]) -> SendOutcome:
        """``POST /{phone_number_id}/messages``, classified by whether Meta may have accepted it."""
        try:
            async with asyncio.timeout(self.timeout_seconds):
                response = await self._client.post(f"{self.base_url}/{phone_number_id}/messages", json=body,
                                                    headers=_auth(access_token))
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            return NotSent(f"{type(exc).__name__}: {exc}")
        except (httpx.HTTPError, TimeoutError) as exc:
            return Unknown(f"{type(exc).__name__}: {exc}")
        payload = json_object(response)
        if response.status_code == 200:
            messages = payload.get("messages") or []
            if messages and messages[0].get("id"):
                return Accepted(str(messages[0]["id"]))
            return Unknown(f"200 without a message id: {str(payload)[:200]}")
        error = payload.get("error") if isinstance(payload.get("error"), dict) else {}
        code = error.get("code")
        data = error.get("error_data") if isinstance(error.get("error_data"), dict) else {}
        return Rejected(code=int(code) if isinstance(code, int) else None, http_status=response.status_code,
                        title=error.get("type"), message=error.get("message"), details=data.get("details"))

    async def media_info(self, media_id: str, access_token: str, phone_number_id: str) -> tuple[int, dict[str, Any]]:
        """``GET /{media_id}?phone_number_id=``: (HTTP status, JSON body); Meta answers only for that number's media."""
        response = await self._client.get(f"{self.base_url}/{media_id}", params={"phone_number_id": phone_number_id},
                                          headers=_auth(access_token))
        return response.status_code, json_object(response)

    async def open_download(self, url: str, access_token: str) -> httpx.Response:
        """``GET`` a media URL with the token, streaming: the caller reads the body and must ``aclose()`` it."""
        client = self._client
        return await client.send(client.build_request("GET", url, headers=_auth(access_token)), stream=True)


def _auth(access_token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {access_token}"}


def json_object(response: httpx.Response) -> dict[str, Any]:
    """The response's JSON object; ``{}`` when the body is not one (Graph's errors are objects)."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
