"""Signing up, refreshing with rotation and reuse detection, logging out, throttled logins."""

from __future__ import annotations

import asyncio
import uuid

import httpx

from tests.integration.gateway.gateway_harness import assert_error, decode_claims, sign_up


async def test_signup_creates_a_tenant_on_the_free_plan_with_its_owner_logged_in(http: httpx.AsyncClient) -> None:
    account = await sign_up(http, "Tiny Shop")

    tenant = await http.get("/v1/tenant", headers=account.headers)
    users = await http.get("/v1/users", headers=account.headers)

    assert tenant.status_code == 200, tenant.text
    assert tenant.json()["name"] == "Tiny Shop" and tenant.json()["plan"] == "free"
    assert tenant.json()["limits"]["agents"] == 2 and tenant.json()["features"] == []
    assert decode_claims(account.access_token)["role"] == "owner"
    [owner] = users.json()["data"]
    assert owner["email"] == account.credentials.email and owner["role"] == "owner"


async def test_signup_with_a_taken_email_is_409_and_bad_input_422(http: httpx.AsyncClient) -> None:
    account = await sign_up(http)

    again = await http.post("/v1/auth/signup", json={"tenant_name": "Copy", "email": account.credentials.email,
                                                     "password": "long-enough-pw"})
    short = await http.post("/v1/auth/signup", json={"tenant_name": "X", "email": "a@b.example", "password": "1"})
    not_email = await http.post("/v1/auth/signup", json={"tenant_name": "X", "email": "nobody",
                                                         "password": "long-enough-pw"})

    assert_error(again, 409, "email_taken")
    assert_error(short, 422, "validation_error")
    assert_error(not_email, 422, "invalid_email")


async def test_refresh_rotates_and_a_reused_token_revokes_the_whole_session(http: httpx.AsyncClient) -> None:
    account = await sign_up(http)

    first = await http.post("/v1/auth/refresh", json={"refresh_token": account.refresh_token})
    assert first.status_code == 200, first.text
    rotated = first.json()["refresh_token"]
    assert rotated != account.refresh_token
    assert (await http.get("/v1/users", headers={"authorization": f"Bearer {first.json()['access_token']}"})
            ).status_code == 200

    replayed = await http.post("/v1/auth/refresh", json={"refresh_token": account.refresh_token})
    after_theft = await http.post("/v1/auth/refresh", json={"refresh_token": rotated})

    assert_error(replayed, 401, "refresh_token_reused")
    assert_error(after_theft, 401, "refresh_token_reused")  # the family is revoked: the rotated one too
    fresh = await http.post("/v1/auth/login", json={"email": account.credentials.email,
                                                    "password": account.credentials.password})
    assert fresh.status_code == 200  # logging in again starts a new session


async def test_concurrent_refreshes_with_one_token_let_only_one_through(http: httpx.AsyncClient) -> None:
    account = await sign_up(http)

    results = await asyncio.gather(*(http.post("/v1/auth/refresh", json={"refresh_token": account.refresh_token})
                                     for _ in range(3)))

    assert sorted(r.status_code for r in results) == [200, 401, 401]


async def test_unknown_refresh_token_is_401(http: httpx.AsyncClient) -> None:
    response = await http.post("/v1/auth/refresh", json={"refresh_token": f"rt_{uuid.uuid4().hex}"})

    assert_error(response, 401, "invalid_refresh_token")


async def test_logout_revokes_the_access_token_and_the_session(http: httpx.AsyncClient) -> None:
    account = await sign_up(http)

    out = await http.post("/v1/auth/logout", json={"refresh_token": account.refresh_token}, headers=account.headers)

    assert out.status_code == 204, out.text
    assert_error(await http.get("/v1/users", headers=account.headers), 401, "token_revoked")
    assert_error(await http.get("/v1/conversations", headers=account.headers), 401, "token_revoked")
    refreshed = await http.post("/v1/auth/refresh", json={"refresh_token": account.refresh_token})
    assert refreshed.status_code == 401


async def test_failed_logins_throttle_the_account_even_for_the_right_password(http: httpx.AsyncClient) -> None:
    account = await sign_up(http)
    wrong = {"email": account.credentials.email, "password": "not-it"}

    statuses = [(await http.post("/v1/auth/login", json=wrong)).status_code for _ in range(10)]
    right = await http.post("/v1/auth/login", json={"email": account.credentials.email,
                                                     "password": account.credentials.password})

    assert statuses == [401] * 10
    error = assert_error(right, 429, "rate_limited")
    assert error["details"]["limit"] == "login_per_account"  # type: ignore[index]
    assert int(right.headers["retry-after"]) > 0
    other = await sign_up(http)  # another account from the same address is unaffected
    assert (await http.post("/v1/auth/login", json={"email": other.credentials.email,
                                                    "password": other.credentials.password})).status_code == 200
