"""Public API routes the gateway forwards, after checking the caller's token, to the owning service."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Request, Response

from parley.gateway.dependencies import GatewayPrincipal, UpstreamServices

router = APIRouter(tags=["conversations"])


async def _forward(request: Request, upstreams: UpstreamServices, service: str, path: str) -> Response:
    upstream = await upstreams.get(service, path, query=request.url.query,
                                   authorization=request.headers.get("authorization"))
    return Response(upstream.content, status_code=upstream.status_code,
                    media_type=upstream.headers.get("content-type", "application/json"))


@router.get("/v1/conversations", summary="List the tenant's conversations (conversation service)")
async def list_conversations(request: Request, _: GatewayPrincipal, upstreams: UpstreamServices) -> Response:
    return await _forward(request, upstreams, "conversation", "/v1/conversations")


@router.get("/v1/conversations/{conversation_id}/messages",
            summary="A conversation's message timeline (conversation service)")
async def list_messages(conversation_id: str, request: Request, _: GatewayPrincipal,
                        upstreams: UpstreamServices) -> Response:
    path = f"/v1/conversations/{quote(conversation_id, safe='')}/messages"
    return await _forward(request, upstreams, "conversation", path)
