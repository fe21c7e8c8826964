"""Every service verifies the gateway's access tokens itself, against the gateway's JWKS."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Annotated
from uuid import UUID

import jwt
from fastapi import Depends, Request

from parley.kit.errors import Unauthorized
from parley.kit.revocation import RevocationCheck

ALGORITHMS = ["EdDSA"]
ISSUER = "parley-gateway"
AUDIENCE = "parley"


@dataclass(frozen=True)
class Principal:
    tenant_id: UUID
    user_id: UUID
    role: str


class TokenVerifier:
    """Checks signature (EdDSA only: no ``alg: none``, no HMAC confusion), expiry, issuer, audience, and, with
    ``revocations``, that the token's session, user and tenant were not revoked or suspended since it was issued."""

    def __init__(self, jwks_url: str, revocations: RevocationCheck | None = None) -> None:
        self._jwks = jwt.PyJWKClient(jwks_url, cache_keys=True, lifespan=300, timeout=5)
        self.revocations = revocations

    async def verify(self, token: str) -> Principal:
        try:
            key = await asyncio.to_thread(self._jwks.get_signing_key_from_jwt, token)
            claims = jwt.decode(token, key.key, algorithms=ALGORITHMS, audience=AUDIENCE, issuer=ISSUER,
                                options={"require": ["exp", "iat", "sub", "tid", "role"]})
        except jwt.ExpiredSignatureError:
            raise Unauthorized("the access token has expired", code="token_expired") from None
        except (jwt.PyJWTError, ValueError) as exc:
            raise Unauthorized(f"the access token is invalid: {exc}", code="invalid_token") from None
        if self.revocations is not None:
            await self.revocations.check(claims)
        return Principal(tenant_id=UUID(claims["tid"]), user_id=UUID(claims["sub"]), role=claims["role"])


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("a bearer access token is required", code="missing_token")
    return token


async def current_principal(request: Request) -> Principal:
    verifier: TokenVerifier | None = getattr(request.app.state, "token_verifier", None)
    if verifier is None:
        raise Unauthorized("this service has no JWKS configured", code="auth_unavailable")
    return await verifier.verify(bearer_token(request))


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
