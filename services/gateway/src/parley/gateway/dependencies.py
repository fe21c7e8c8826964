"""FastAPI dependencies of the gateway: its token issuer, its upstreams, the caller's verified identity."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from parley.gateway.tokens import TokenIssuer
from parley.gateway.upstreams import Upstreams
from parley.kit.auth import Principal, bearer_token


async def get_token_issuer(request: Request) -> TokenIssuer:
    return request.app.state.token_issuer


async def get_upstreams(request: Request) -> Upstreams:
    return request.app.state.upstreams


async def authenticated(request: Request, issuer: Annotated[TokenIssuer, Depends(get_token_issuer)]) -> Principal:
    """The gateway checks tokens itself, so unauthenticated requests never reach a service."""
    return issuer.verify(bearer_token(request))


Issuer = Annotated[TokenIssuer, Depends(get_token_issuer)]
UpstreamServices = Annotated[Upstreams, Depends(get_upstreams)]
GatewayPrincipal = Annotated[Principal, Depends(authenticated)]
