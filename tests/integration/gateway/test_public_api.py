"""The public API's common rules: Idempotency-Key, body limits, unknown routes, one OpenAPI document."""

from __future__ import annotations

import uuid

import httpx

from tests.integration.gateway.gateway_harness import assert_error, sign_up


def hook(name: str) -> dict[str, object]:
    return {"name": name, "event": "purchase.approved", "signature": {"scheme": "hmac-sha256"}}


async def test_a_retried_post_with_the_same_idempotency_key_returns_the_first_result(http: httpx.AsyncClient) -> None:
    owner = await sign_up(http)
    headers = {**owner.headers, "idempotency-key": str(uuid.uuid4())}
    body = hook(f"shop-{uuid.uuid4().hex[:8]}")

    first = await http.post("/v1/hooks", json=body, headers=headers)
    retry = await http.post("/v1/hooks", json=body, headers=headers)
    other_body = await http.post("/v1/hooks", json=hook("another-name"), headers=headers)

    assert first.status_code == 201, first.text
    assert retry.status_code == 201 and retry.json() == first.json()  # same hook, same secret shown
    assert retry.headers["idempotent-replayed"] == "true"
    assert_error(other_body, 422, "idempotency_key_reused")
    hooks = (await http.get("/v1/hooks", headers=owner.headers)).json()["data"]
    assert [h["id"] for h in hooks] == [first.json()["id"]]  # created once


async def test_idempotency_keys_are_per_caller(http: httpx.AsyncClient) -> None:
    one, two = await sign_up(http), await sign_up(http)
    key = str(uuid.uuid4())
    body = hook("same-name")

    first = await http.post("/v1/hooks", json=body, headers={**one.headers, "idempotency-key": key})
    second = await http.post("/v1/hooks", json=body, headers={**two.headers, "idempotency-key": key})

    assert first.status_code == second.status_code == 201
    assert first.json()["id"] != second.json()["id"]


async def test_oversized_bodies_are_413_before_reaching_a_service(http: httpx.AsyncClient) -> None:
    owner = await sign_up(http)
    big = {"name": "x" * (300 * 1024)}

    forwarded = await http.post("/v1/hooks", json=big, headers=owner.headers)
    own = await http.post("/v1/auth/login", json={"email": "a@b.c", "password": "p" * (300 * 1024)})

    assert_error(forwarded, 413, "payload_too_large")
    assert_error(own, 413, "payload_too_large")


async def test_routes_no_service_owns_are_404_in_the_standard_shape(http: httpx.AsyncClient) -> None:
    owner = await sign_up(http)

    assert_error(await http.get("/v1/nothing-here", headers=owner.headers), 404, "not_found")
    assert_error(await http.get("/v1/hooks/%2e%2e/users", headers=owner.headers), 404, "not_found")
    assert_error(await http.get("/v1/nothing-here"), 401, "missing_token")  # anonymous callers learn nothing


async def test_openapi_describes_the_gateway_and_the_forwarded_routes(http: httpx.AsyncClient) -> None:
    document = (await http.get("/v1/openapi.json")).json()

    paths = document["paths"]
    for path in ("/v1/auth/signup", "/v1/auth/refresh", "/v1/users", "/v1/api-keys", "/v1/conversations",
                 "/v1/hooks", "/v1/channels"):
        assert path in paths, path
    listed = paths["/v1/conversations"]["get"]
    assert listed["responses"]["403"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorResponse"}
    assert listed["security"] == [{"bearerAuth": []}]
    refs = {value for value in _refs(document)}
    assert refs <= {f"#/components/schemas/{name}" for name in document["components"]["schemas"]}


def _refs(node: object) -> list[str]:
    if isinstance(node, dict):
        return [v for k, v in node.items() if k == "$ref"] + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for item in node for r in _refs(item)]
    return []
