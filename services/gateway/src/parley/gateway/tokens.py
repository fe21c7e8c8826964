"""Access tokens: EdDSA (Ed25519) JWTs the gateway signs and every service verifies via the JWKS."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from parley.gateway.settings import GatewaySettings
from parley.kit.auth import ALGORITHMS, AUDIENCE, ISSUER, Principal
from parley.kit.errors import Unauthorized
from parley.kit.telemetry import get_logger

log = get_logger(__name__)
REQUIRED_CLAIMS = ["exp", "iat", "sub", "tid", "role", "jti"]
ROLES = ("owner", "admin", "manager", "agent")


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def public_jwk(public_key: Ed25519PublicKey) -> dict[str, str]:
    """The key as an OKP JWK whose ``kid`` is its RFC 7638 thumbprint."""
    x = _b64url(public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))
    required = {"crv": "Ed25519", "kty": "OKP", "x": x}  # RFC 7638: required members, sorted, no spaces
    canonical = json.dumps(required, separators=(",", ":"), sort_keys=True).encode()
    kid = _b64url(hashlib.sha256(canonical).digest())
    return {**required, "kid": kid, "alg": "EdDSA", "use": "sig"}


class TokenIssuer:
    """Signs access tokens with the gateway's private key and verifies them with its public key."""

    def __init__(self, private_key: Ed25519PrivateKey, ttl_seconds: int) -> None:
        self._private_key = private_key
        self._public_key = private_key.public_key()
        self.ttl_seconds = ttl_seconds
        self.jwk = public_jwk(self._public_key)

    @property
    def kid(self) -> str:
        return self.jwk["kid"]

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        return {"keys": [self.jwk]}

    def issue(self, *, user_id: UUID, tenant_id: UUID, role: str, now: datetime | None = None,
              ttl_seconds: int | None = None, extra: dict[str, Any] | None = None) -> str:
        issued_at = now or datetime.now(UTC)
        claims: dict[str, Any] = {
            **(extra or {}),
            "iss": ISSUER, "aud": AUDIENCE, "sub": str(user_id), "tid": str(tenant_id), "role": role,
            "iat": issued_at, "exp": issued_at + timedelta(seconds=ttl_seconds or self.ttl_seconds),
            "jti": str(uuid.uuid4()),
        }
        return jwt.encode(claims, self._private_key, algorithm="EdDSA", headers={"kid": self.kid})

    def verify(self, token: str) -> Principal:
        """The token's principal; Unauthorized when expired, forged, unsigned or not ours."""
        return self.principal(self.claims(token))

    @staticmethod
    def principal(claims: dict[str, Any]) -> Principal:
        try:
            return Principal(tenant_id=UUID(claims["tid"]), user_id=UUID(claims["sub"]), role=claims["role"])
        except (ValueError, TypeError, KeyError) as exc:
            raise Unauthorized(f"the access token is invalid: {exc}", code="invalid_token") from None

    def claims(self, token: str) -> dict[str, Any]:
        """The verified claims of ``token``; Unauthorized when expired, forged, unsigned or not ours."""
        try:
            claims: dict[str, Any] = jwt.decode(token, self._public_key, algorithms=ALGORITHMS, audience=AUDIENCE,
                                                issuer=ISSUER, options={"require": REQUIRED_CLAIMS})
            if claims["role"] not in ROLES:
                raise ValueError(f"unknown role {claims['role']!r}")
            return claims
        except jwt.ExpiredSignatureError:
            raise Unauthorized("the access token has expired", code="token_expired") from None
        except (jwt.PyJWTError, ValueError, TypeError) as exc:
            raise Unauthorized(f"the access token is invalid: {exc}", code="invalid_token") from None


def load_signing_key(settings: GatewaySettings) -> Ed25519PrivateKey:
    """The configured Ed25519 key; in development an ephemeral one when none is configured."""
    if settings.jwt_private_key is not None:
        pem, origin = settings.jwt_private_key.get_secret_value().encode(), "GATEWAY_JWT_PRIVATE_KEY"
    elif settings.jwt_private_key_file is not None:
        try:
            pem, origin = settings.jwt_private_key_file.read_bytes(), str(settings.jwt_private_key_file)
        except OSError as exc:
            raise RuntimeError(f"cannot read GATEWAY_JWT_PRIVATE_KEY_FILE: {exc}") from exc
    else:
        # Settings refuse this outside development; tokens die with the process.
        log.warning("no GATEWAY_JWT_PRIVATE_KEY(_FILE) set: signing with an ephemeral development key")
        return Ed25519PrivateKey.generate()
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise RuntimeError(f"the token signing key in {origin} is not an unencrypted PEM key") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise RuntimeError(f"the token signing key in {origin} must be Ed25519, not {type(key).__name__}")
    return key
