"""``Idempotency-Key`` on the gateway's own creating POSTs, with the same store and rules as forwarded ones.

The creation commits before its answer is kept, so a replay never returns something that was rolled back.
Anonymous requests (sign-up, accepting an invitation) are keyed by the key and a hash of the body: no caller
identity separates two clients there, so one client cannot claim a key another will use.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Header, Request, Response
from pydantic import BaseModel

from parley.gateway.idempotency import StoredResponse, fingerprint, run_once
from parley.gateway.runtime import GatewayRuntime

IdempotencyKey = Annotated[str | None, Header(
    alias="Idempotency-Key",
    description="Retrying with the same key returns the first answer; the same key with another body is refused")]


def anonymous_scope(action: str, body: bytes) -> str:
    return f"anonymous:{action}:{hashlib.sha256(body).hexdigest()}"


async def respond_once(runtime: GatewayRuntime, request: Request, scope: str, key: str | None,
                       create: Callable[[], Awaitable[BaseModel]], status_code: int = 201) -> Response:
    """The answer of ``create`` (which commits its own transaction), or the first one given under ``key``."""

    async def produce() -> StoredResponse:
        model = await create()
        return StoredResponse(status_code, "application/json", model.model_dump_json(by_alias=True).encode())

    if key is None:
        response, replayed = await produce(), False
    else:
        fp = fingerprint(request.method, request.url.path, await request.body())
        response, replayed = await run_once(runtime.idempotency, scope, key, fp, produce)
    return Response(response.body, status_code=response.status_code, media_type=response.content_type,
                    headers={"idempotent-replayed": "true"} if replayed else None)
