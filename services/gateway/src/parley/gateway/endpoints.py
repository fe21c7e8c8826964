"""The gateway's own HTTP API: logging in and publishing the token verification key."""

from __future__ import annotations

from fastapi import APIRouter

from parley.gateway import service
from parley.gateway.dependencies import Issuer
from parley.gateway.schemas import JsonWebKeySet, LoginRequest, LoginResponse
from parley.kit.service import Session

router = APIRouter(tags=["auth"])


@router.post("/v1/auth/login", summary="Exchange e-mail and password for an access token")
async def login(body: LoginRequest, session: Session, issuer: Issuer) -> LoginResponse:
    token = await service.login(session, issuer, email=body.email, password=body.password)
    return LoginResponse(access_token=token.token, expires_in=token.expires_in)


@router.get("/.well-known/jwks.json", summary="Public keys that verify Parley access tokens")
async def jwks(issuer: Issuer) -> JsonWebKeySet:
    return JsonWebKeySet.model_validate(issuer.jwks())
