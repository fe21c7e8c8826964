"""Channels over HTTP (``/v1/channels``, JWT): register, list, replace a token, throughput, pause/resume, stats,
and the media their customers sent."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import StreamingResponse

from parley.contracts.events.channels import ChannelRegistered
from parley.kit.auth import CurrentPrincipal
from parley.kit.crypto import TenantCipher
from parley.kit.pagination import Page, PageInfo
from parley.kit.service import CurrentService, TenantSession
from parley.sender import health, media, service
from parley.sender.graph import GraphClient
from parley.sender.models import Channel
from parley.sender.schemas import ChannelChange, ChannelCreate, ChannelOut, ChannelStats, TokenReplacement
from parley.sender.settings import SenderSettings

router = APIRouter(tags=["channels"])


async def get_cipher(request: Request) -> TenantCipher:
    return request.app.state.tenant_cipher


async def get_graph(request: Request) -> GraphClient:
    return request.app.state.graph


Cipher = Annotated[TenantCipher, Depends(get_cipher)]
Graph = Annotated[GraphClient, Depends(get_graph)]


def _out(channel: Channel) -> ChannelOut:
    return ChannelOut(phone_number_id=channel.phone_number_id, waba_id=channel.waba_id,
                      display_phone_number=channel.display_phone_number, verified_name=channel.verified_name,
                      status=channel.status, paused=channel.paused, throughput_per_second=channel.throughput_per_second,
                      registered_at=channel.registered_at)


@router.post("/v1/channels", status_code=201, response_model=ChannelOut,
             summary="Connect a WhatsApp number; the token is verified with Meta and stored encrypted")
async def register_channel(body: ChannelCreate, principal: CurrentPrincipal, session: TenantSession,
                           service_: CurrentService, cipher: Cipher, graph: Graph) -> ChannelOut:
    service.require_manager(principal)
    await service.require_number_allowance(session, principal.tenant_id)
    token = body.access_token.get_secret_value()
    verified_name = await service.verify_token(graph, body.phone_number_id, token)
    await service.register_channel(session, service_.store, cipher, principal.tenant_id, ChannelRegistered(
        phone_number_id=body.phone_number_id, waba_id=body.waba_id,
        display_phone_number=body.display_phone_number, verified_name=verified_name), token)
    return _out(await service.get_channel(session, principal.tenant_id, body.phone_number_id))


@router.get("/v1/channels", response_model=Page[ChannelOut], summary="The tenant's numbers (never their tokens)")
async def list_channels(principal: CurrentPrincipal, session: TenantSession) -> Page[ChannelOut]:
    channels = await service.list_channels(session, principal.tenant_id)
    return Page(data=[_out(c) for c in channels], pagination=PageInfo(limit=len(channels), has_more=False))


@router.put("/v1/channels/{phone_number_id}/access-token", response_model=ChannelOut,
            summary="Replace a number's token (verified first); messages held by a 190 go out again")
async def replace_token(phone_number_id: str, body: TokenReplacement, principal: CurrentPrincipal,
                        session: TenantSession, service_: CurrentService, cipher: Cipher, graph: Graph) -> ChannelOut:
    service.require_manager(principal)
    await service.get_channel(session, principal.tenant_id, phone_number_id)
    token = body.access_token.get_secret_value()
    await service.verify_token(graph, phone_number_id, token)
    return _out(await service.replace_token(session, service_.store, cipher, principal, phone_number_id, token))


@router.patch("/v1/channels/{phone_number_id}", response_model=ChannelOut,
              summary="Change a number's settings: its throughput (sends per second, shared by all replicas)")
async def change_channel(phone_number_id: str, body: ChannelChange, principal: CurrentPrincipal, session: TenantSession,
                         service_: CurrentService) -> ChannelOut:
    service.require_manager(principal)
    if "throughput_per_second" not in body.model_fields_set:
        return _out(await service.get_channel(session, principal.tenant_id, phone_number_id))
    return _out(await service.set_throughput(session, service_.store, principal.tenant_id, phone_number_id,
                                             body.throughput_per_second))


@router.post("/v1/channels/{phone_number_id}/pause", response_model=ChannelOut,
             summary="Stop sending from a number; its messages wait until it is resumed")
async def pause_channel(phone_number_id: str, principal: CurrentPrincipal, session: TenantSession,
                        service_: CurrentService) -> ChannelOut:
    service.require_manager(principal)
    await service.get_channel(session, principal.tenant_id, phone_number_id)
    await health.pause(session, service_.store, phone_number_id, None, "paused by a manager")
    return _out(await service.get_channel(session, principal.tenant_id, phone_number_id))


@router.post("/v1/channels/{phone_number_id}/resume", response_model=ChannelOut,
             summary="Send again from a paused number (after repeated failures or a manual pause)")
async def resume_channel(phone_number_id: str, principal: CurrentPrincipal, session: TenantSession,
                         service_: CurrentService) -> ChannelOut:
    service.require_manager(principal)
    channel = await service.get_channel(session, principal.tenant_id, phone_number_id)
    if channel.paused:
        await health.resume(session, service_.store, phone_number_id)
    return _out(await service.get_channel(session, principal.tenant_id, phone_number_id))


@router.get("/v1/channels/{phone_number_id}/stats", response_model=ChannelStats,
            summary="A number's send statistics, health and effective throughput")
async def channel_stats(phone_number_id: str, principal: CurrentPrincipal, session: TenantSession,
                        service_: CurrentService) -> ChannelStats:
    settings: SenderSettings = service_.settings  # type: ignore[assignment]
    channel, row, queued = await health.statistics(session, principal.tenant_id, phone_number_id)
    configured = channel.throughput_per_second or settings.throughput_per_second
    policy = health.HealthPolicy(slow_factor=settings.slow_factor)
    score, streak = (row.health_score, row.consecutive_failures) if row else (100.0, 0)
    return ChannelStats(
        phone_number_id=phone_number_id, status=channel.status, paused=channel.paused,
        paused_reason=channel.paused_reason, throughput_per_second=configured,
        effective_throughput_per_second=health.effective_rate(configured, row, policy, datetime.now(UTC)),
        slowed_until=row.slowed_until if row else None, slowed_reason=row.slowed_reason if row else None,
        health_score=round(score, 1), healthy=health.is_healthy(score, streak), consecutive_failures=streak,
        accepted=row.accepted if row else 0, failed=row.failed if row else 0,
        delivered=row.delivered if row else 0, read=row.read if row else 0, queued=queued,
        last_error_code=row.last_error_code if row else None, last_failure_at=row.last_failure_at if row else None)


@router.get("/v1/channels/{phone_number_id}/media/{media_id}", response_class=StreamingResponse,
            summary="The bytes of a media object of the number (a customer's image, voice note, document...)",
            description="Fetched from Meta with the number's token and streamed through; Meta keeps media for 30 "
                        "days. Images, audio and video are served inline, anything else as an attachment.",
            responses={200: {"description": "The media's bytes, with its MIME type",
                             "content": {"application/octet-stream": {"schema": {"type": "string",
                                                                                 "format": "binary"}}}}})
async def download_media(phone_number_id: str, principal: CurrentPrincipal, service_: CurrentService,
                         cipher: Cipher, graph: Graph,
                         media_id: Annotated[str, Path(pattern=r"^[0-9]{1,64}$",
                                                       description="Meta's media id (digits)")]) -> StreamingResponse:
    # Its own short transaction: no database connection is held while the bytes stream.
    async with service_.db.unit_of_work(tenant_id=principal.tenant_id) as session:
        channel = await service.get_channel(session, principal.tenant_id, phone_number_id)
        token = await service.access_token(session, cipher, channel) if channel.status != "needs_token" else None
    if token is None:
        raise media.ChannelNeedsToken(f"phone number {phone_number_id} needs a new access token: replace it with "
                                      f"PUT /v1/channels/{phone_number_id}/access-token")
    download = await media.open_download(graph, phone_number_id, media_id, token)
    return StreamingResponse(media.chunks(download), media_type=download.mime_type, headers=media.headers(download))
