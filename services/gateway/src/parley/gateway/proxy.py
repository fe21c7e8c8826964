"""Public API routes the gateway forwards, after checking the caller's token, to the owning service."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Request, Response

from parley.gateway.dependencies import GatewayPrincipal, UpstreamServices
from parley.kit.http import read_body

router = APIRouter()

#: Bodies the public API forwards are small JSON documents; anything bigger is refused here.
MAX_FORWARDED_BODY = 256 * 1024


async def _forward(request: Request, upstreams: UpstreamServices, service: str, path: str) -> Response:
    body = await read_body(request, MAX_FORWARDED_BODY) if request.method in {"POST", "PATCH", "PUT"} else b""
    upstream = await upstreams.request(request.method, service, path, query=request.url.query,
                                       authorization=request.headers.get("authorization"), body=body,
                                       content_type=request.headers.get("content-type"))
    if upstream.status_code == 204:
        return Response(status_code=204)
    return Response(upstream.content, status_code=upstream.status_code,
                    media_type=upstream.headers.get("content-type", "application/json"))


def _id(value: str) -> str:
    return quote(value, safe="")


@router.get("/v1/conversations", tags=["conversations"],
            summary="List the tenant's conversations (conversation service)")
async def list_conversations(request: Request, _: GatewayPrincipal, upstreams: UpstreamServices) -> Response:
    return await _forward(request, upstreams, "conversation", "/v1/conversations")


@router.get("/v1/conversations/{conversation_id}/messages", tags=["conversations"],
            summary="A conversation's message timeline (conversation service)")
async def list_messages(conversation_id: str, request: Request, _: GatewayPrincipal,
                        upstreams: UpstreamServices) -> Response:
    return await _forward(request, upstreams, "conversation", f"/v1/conversations/{_id(conversation_id)}/messages")


@router.get("/v1/hooks", tags=["inbound hooks"], summary="The tenant's inbound hooks (ingest service)")
@router.post("/v1/hooks", tags=["inbound hooks"], summary="Create an inbound hook; its secret is shown once")
async def hooks(request: Request, _: GatewayPrincipal, upstreams: UpstreamServices) -> Response:
    return await _forward(request, upstreams, "ingest", "/v1/hooks")


@router.get("/v1/hooks/{hook_id}", tags=["inbound hooks"], summary="One inbound hook (never its secret)")
@router.patch("/v1/hooks/{hook_id}", tags=["inbound hooks"], summary="Change a hook's mapping, event or state")
@router.delete("/v1/hooks/{hook_id}", tags=["inbound hooks"], summary="Delete a hook")
async def hook(hook_id: str, request: Request, _: GatewayPrincipal, upstreams: UpstreamServices) -> Response:
    return await _forward(request, upstreams, "ingest", f"/v1/hooks/{_id(hook_id)}")


@router.post("/v1/hooks/{hook_id}/rotate-secret", tags=["inbound hooks"],
             summary="A new secret for a hook, shown once; the old one keeps working for the grace period")
async def rotate_hook_secret(hook_id: str, request: Request, _: GatewayPrincipal,
                             upstreams: UpstreamServices) -> Response:
    return await _forward(request, upstreams, "ingest", f"/v1/hooks/{_id(hook_id)}/rotate-secret")


@router.get("/v1/channels", tags=["channels"], summary="The tenant's WhatsApp numbers, never their tokens (sender)")
@router.post("/v1/channels", tags=["channels"],
             summary="Connect a number: its token is verified with Meta and stored encrypted (sender)")
async def channels(request: Request, _: GatewayPrincipal, upstreams: UpstreamServices) -> Response:
    return await _forward(request, upstreams, "sender", "/v1/channels")


@router.put("/v1/channels/{phone_number_id}/access-token", tags=["channels"],
            summary="Replace a number's access token, e.g. after Meta error 190 (sender)")
async def channel_token(phone_number_id: str, request: Request, _: GatewayPrincipal,
                        upstreams: UpstreamServices) -> Response:
    return await _forward(request, upstreams, "sender", f"/v1/channels/{_id(phone_number_id)}/access-token")
