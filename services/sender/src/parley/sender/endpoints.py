"""Channels over HTTP (``/v1/channels``, JWT): register a number, list them, replace a token."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from parley.contracts.events.channels import ChannelRegistered
from parley.kit.auth import CurrentPrincipal
from parley.kit.crypto import TenantCipher
from parley.kit.pagination import Page, PageInfo
from parley.kit.service import CurrentService, Session
from parley.sender import service
from parley.sender.graph import GraphClient
from parley.sender.models import Channel
from parley.sender.schemas import ChannelCreate, ChannelOut, TokenReplacement

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
                      status=channel.status, registered_at=channel.registered_at)


@router.post("/v1/channels", status_code=201, response_model=ChannelOut,
             summary="Connect a WhatsApp number; the token is verified with Meta and stored encrypted")
async def register_channel(body: ChannelCreate, principal: CurrentPrincipal, session: Session,
                           service_: CurrentService, cipher: Cipher, graph: Graph) -> ChannelOut:
    service.require_manager(principal)
    token = body.access_token.get_secret_value()
    verified_name = await service.verify_token(graph, body.phone_number_id, token)
    await service.register_channel(session, service_.store, cipher, principal.tenant_id, ChannelRegistered(
        phone_number_id=body.phone_number_id, waba_id=body.waba_id,
        display_phone_number=body.display_phone_number, verified_name=verified_name), token)
    return _out(await service.get_channel(session, principal.tenant_id, body.phone_number_id))


@router.get("/v1/channels", response_model=Page[ChannelOut], summary="The tenant's numbers (never their tokens)")
async def list_channels(principal: CurrentPrincipal, session: Session) -> Page[ChannelOut]:
    channels = await service.list_channels(session, principal.tenant_id)
    return Page(data=[_out(c) for c in channels], pagination=PageInfo(limit=len(channels), has_more=False))


@router.put("/v1/channels/{phone_number_id}/access-token", response_model=ChannelOut,
            summary="Replace a number's token (verified first); messages held by a 190 go out again")
async def replace_token(phone_number_id: str, body: TokenReplacement, principal: CurrentPrincipal, session: Session,
                        service_: CurrentService, cipher: Cipher, graph: Graph) -> ChannelOut:
    service.require_manager(principal)
    await service.get_channel(session, principal.tenant_id, phone_number_id)
    token = body.access_token.get_secret_value()
    await service.verify_token(graph, phone_number_id, token)
    return _out(await service.replace_token(session, service_.store, cipher, principal, phone_number_id, token))
