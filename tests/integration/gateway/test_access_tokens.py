"""The gateway turns away every request to the public API that lacks a valid token of its own."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.integration.gateway.gateway_harness import Credentials

PROTECTED = ["/v1/conversations", f"/v1/conversations/{uuid.uuid4()}/messages"]


def claims_for(who: Credentials, *, issued: datetime,
               ttl: timedelta = timedelta(minutes=15)) -> dict[str, object]:
    return {"iss": "parley-gateway", "aud": "parley", "sub": str(uuid.uuid4()), "tid": str(who.tenant_id),
            "role": "owner", "iat": issued, "exp": issued + ttl, "jti": str(uuid.uuid4())}


def unsigned(claims: dict[str, object]) -> str:
    def part(value: dict[str, object]) -> str:
        raw = json.dumps(value, default=lambda v: int(v.timestamp())).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


async def kid_of(http: httpx.AsyncClient) -> str:
    return (await http.get("/.well-known/jwks.json")).json()["keys"][0]["kid"]


@pytest.mark.parametrize("path", PROTECTED)
async def test_missing_token_is_401(http: httpx.AsyncClient, path: str) -> None:
    no_header = await http.get(path)
    not_bearer = await http.get(path, headers={"authorization": "Basic b3duZXI6cHc="})

    for response in (no_header, not_bearer):
        assert response.status_code == 401
        assert response.json()["success"] is False
        assert response.json()["error"]["code"] == "missing_token"


@pytest.mark.parametrize("path", PROTECTED)
async def test_expired_token_is_401(http: httpx.AsyncClient, demo: Credentials,
                                    signing_key: Ed25519PrivateKey, path: str) -> None:
    issued = datetime.now(UTC) - timedelta(hours=1)
    token = jwt.encode(claims_for(demo, issued=issued), signing_key, algorithm="EdDSA",
                       headers={"kid": await kid_of(http)})

    response = await http.get(path, headers={"authorization": f"Bearer {token}"})

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_expired"


@pytest.mark.parametrize("path", PROTECTED)
async def test_token_signed_with_another_key_is_401(http: httpx.AsyncClient, demo: Credentials,
                                                    path: str) -> None:
    forged = jwt.encode(claims_for(demo, issued=datetime.now(UTC)), Ed25519PrivateKey.generate(),
                        algorithm="EdDSA", headers={"kid": await kid_of(http)})

    response = await http.get(path, headers={"authorization": f"Bearer {forged}"})

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_token"


@pytest.mark.parametrize("path", PROTECTED)
async def test_unsigned_alg_none_token_is_401(http: httpx.AsyncClient, demo: Credentials, path: str) -> None:
    token = unsigned(claims_for(demo, issued=datetime.now(UTC)))

    response = await http.get(path, headers={"authorization": f"Bearer {token}"})

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_token"


async def test_token_for_another_audience_is_401(http: httpx.AsyncClient, demo: Credentials,
                                                 signing_key: Ed25519PrivateKey) -> None:
    claims = {**claims_for(demo, issued=datetime.now(UTC)), "aud": "someone-else"}
    token = jwt.encode(claims, signing_key, algorithm="EdDSA", headers={"kid": await kid_of(http)})

    response = await http.get("/v1/conversations", headers={"authorization": f"Bearer {token}"})

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_token"

