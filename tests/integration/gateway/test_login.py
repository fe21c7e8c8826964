"""Logging in at the running gateway, and the tokens it hands out."""

from __future__ import annotations

import httpx
import jwt

from parley.gateway import service as gateway_service
from parley.kit.auth import TokenVerifier
from parley.kit.service import Service
from tests.integration.gateway.gateway_harness import Credentials, login


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is False
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert "details" in body["error"]


async def test_demo_owner_logs_in_and_gets_a_bearer_token(http: httpx.AsyncClient, demo: Credentials) -> None:
    response = await http.post("/v1/auth/login", json={"email": demo.email, "password": demo.password})

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 900
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["iss"] == "parley-gateway" and claims["aud"] == "parley"
    assert claims["tid"] == str(demo.tenant_id) and claims["role"] == "owner"
    assert claims["exp"] - claims["iat"] == 900 and claims["jti"]


async def test_jwks_publishes_the_signing_key_as_okp(http: httpx.AsyncClient, demo: Credentials) -> None:
    token = await login(http, demo)

    keys = (await http.get("/.well-known/jwks.json")).json()["keys"]

    assert len(keys) == 1
    key = keys[0]
    assert {k: key[k] for k in ("kty", "crv", "alg", "use")} == {
        "kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig"}
    assert jwt.get_unverified_header(token)["kid"] == key["kid"]
    assert jwt.get_unverified_header(token)["alg"] == "EdDSA"


async def test_every_service_accepts_the_token_through_the_kit_verifier(
        http: httpx.AsyncClient, gateway_url: str, demo: Credentials) -> None:
    token = await login(http, demo)

    principal = await TokenVerifier(f"{gateway_url}/.well-known/jwks.json").verify(token)

    assert principal.tenant_id == demo.tenant_id
    assert principal.role == "owner"


async def test_email_is_matched_case_insensitively(http: httpx.AsyncClient, member: Credentials) -> None:
    response = await http.post("/v1/auth/login", json={"email": f"  {member.email.upper()} ",
                                                       "password": member.password})

    assert response.status_code == 200, response.text
    claims = jwt.decode(response.json()["access_token"], options={"verify_signature": False})
    assert claims["tid"] == str(member.tenant_id) and claims["role"] == "agent"


async def test_wrong_password_is_401_in_the_standard_shape(http: httpx.AsyncClient,
                                                           demo: Credentials) -> None:
    response = await http.post("/v1/auth/login", json={"email": demo.email, "password": "not-the-password"})

    assert_error(response, 401, "invalid_credentials")
    assert "access_token" not in response.text


async def test_unknown_email_gets_the_same_401(http: httpx.AsyncClient, demo: Credentials) -> None:
    unknown = await http.post("/v1/auth/login", json={"email": "nobody@nowhere.example", "password": "x"})
    wrong = await http.post("/v1/auth/login", json={"email": demo.email, "password": "x"})

    assert_error(unknown, 401, "invalid_credentials")
    assert unknown.json() == wrong.json()


async def test_malformed_body_is_422_in_the_standard_shape(http: httpx.AsyncClient) -> None:
    missing = await http.post("/v1/auth/login", json={"email": "owner@example.com"})
    not_json = await http.post("/v1/auth/login", content=b"{not json",
                               headers={"content-type": "application/json"})

    assert_error(missing, 422, "validation_error")
    assert any(d["loc"][-1] == "password" for d in missing.json()["error"]["details"])
    assert_error(not_json, 422, "validation_error")


async def test_suspended_tenant_cannot_log_in(http: httpx.AsyncClient, gateway: Service,
                                              member: Credentials) -> None:
    await login(http, member)
    async with gateway.db.unit_of_work(tenant_id=member.tenant_id) as session:
        await gateway_service.change_tenant_status(session, gateway.store, member.tenant_id, "suspended",
                                                   reason="unpaid")

    response = await http.post("/v1/auth/login", json={"email": member.email, "password": member.password})

    assert_error(response, 403, "tenant_suspended")


async def test_suspended_tenant_with_wrong_password_learns_nothing(
        http: httpx.AsyncClient, gateway: Service, member: Credentials) -> None:
    async with gateway.db.unit_of_work(tenant_id=member.tenant_id) as session:
        await gateway_service.change_tenant_status(session, gateway.store, member.tenant_id, "suspended")

    response = await http.post("/v1/auth/login", json={"email": member.email, "password": "guess"})

    assert_error(response, 401, "invalid_credentials")
