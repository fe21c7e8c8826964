"""The services' public API, forwarded by path prefix after the gateway has checked the caller.

Checks, in order: credential (token or API key), tenant active, rate limits, role matrix, API key scope,
plan feature. Responses stream through (exports can be large); a POST with ``Idempotency-Key`` is
buffered instead so a retry can be answered with the first response.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask

from parley.gateway.access import authorize, forwarded_rule
from parley.gateway.dependencies import AuthenticatedCaller, Caller, Runtime
from parley.gateway.idempotency import StoredResponse, fingerprint, run_once
from parley.gateway.runtime import GatewayRuntime
from parley.kit.http import read_body

router = APIRouter()

METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
#: Upstream response headers a client may need; hop-by-hop and framing headers are the server's business.
PASSED_HEADERS = ("content-type", "content-disposition", "cache-control", "location", "retry-after", "etag",
                  "link", "last-modified")


def _headers(upstream_headers: object) -> dict[str, str]:
    get = upstream_headers.get  # type: ignore[attr-defined]
    return {name: get(name) for name in PASSED_HEADERS if get(name) is not None}


async def _forward_buffered(runtime: GatewayRuntime, caller: Caller, request: Request, service: str, path: str,
                            body: bytes, idempotency_key: str) -> Response:
    """A creating POST under an Idempotency-Key: the first answer is kept and replayed to retries."""
    headers: dict[str, str] = {}

    async def forward_once() -> StoredResponse:
        upstream = await runtime.upstreams.request(
            request.method, service, path, query=request.url.query, authorization=caller.authorization, body=body,
            content_type=request.headers.get("content-type"), idempotency_key=idempotency_key)
        headers.update(_headers(upstream.headers))
        return StoredResponse(upstream.status_code, upstream.headers.get("content-type", "application/json"),
                              upstream.content)

    response, replayed = await run_once(
        runtime.idempotency, f"{caller.principal.tenant_id}:{caller.principal.user_id}", idempotency_key,
        fingerprint(request.method, path + "?" + request.url.query, body), forward_once)
    if replayed:
        return Response(response.body, status_code=response.status_code, media_type=response.content_type,
                        headers={"idempotent-replayed": "true"})
    return Response(response.body, status_code=response.status_code, headers=headers)


@router.api_route("/v1/{rest:path}", methods=METHODS, include_in_schema=False)
async def forward(rest: str, request: Request, caller: AuthenticatedCaller, runtime: Runtime) -> Response:
    """Everything under a prefix a service owns goes to that service, path and query unchanged."""
    path = request.url.path
    rule = forwarded_rule(path)
    authorize(rule, request.method, caller.principal.role, caller.grant, caller.tenant)
    assert rule.service is not None
    raw_path = request.scope.get("raw_path", path.encode()).decode("latin-1")
    body = (await read_body(request, runtime.settings.max_body_bytes)
            if request.method in {"POST", "PATCH", "PUT"} else b"")
    idempotency_key = request.headers.get("idempotency-key")
    if request.method == "POST" and idempotency_key is not None:
        return await _forward_buffered(runtime, caller, request, rule.service, raw_path, body, idempotency_key)
    upstream = await runtime.upstreams.open(request.method, rule.service, raw_path, query=request.url.query,
                                            authorization=caller.authorization, body=body,
                                            content_type=request.headers.get("content-type"))
    if upstream.status_code == 204:
        await upstream.aclose()
        return Response(status_code=204)
    return StreamingResponse(upstream.aiter_raw(), status_code=upstream.status_code,
                             headers=_headers(upstream.headers), background=BackgroundTask(upstream.aclose))
