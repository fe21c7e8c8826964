"""What wraps the gateway's app: CORS when configured, 413 for oversized bodies, Retry-After on 429."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from parley.gateway.edge import wrapper
from parley.gateway.ratelimit import RateLimited
from parley.gateway.settings import GatewaySettings
from parley.kit.errors import install_error_handlers


def client(**settings: object) -> TestClient:
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/echo")
    async def echo(request: Request) -> dict[str, int]:
        return {"size": len(await request.body())}

    @app.get("/limited")
    async def limited() -> None:
        raise RateLimited("slow down", 2.2, {"limit": "tenant"})

    return TestClient(wrapper(GatewaySettings(**settings))(app))  # type: ignore[arg-type]


def test_cors_answers_preflights_for_configured_origins_only() -> None:
    http = client(cors_origins="https://app.example.com")

    allowed = http.options("/echo", headers={"origin": "https://app.example.com",
                                             "access-control-request-method": "POST"})
    other = http.options("/echo", headers={"origin": "https://evil.example",
                                           "access-control-request-method": "POST"})

    assert allowed.headers["access-control-allow-origin"] == "https://app.example.com"
    assert "access-control-allow-origin" not in other.headers


def test_bodies_over_the_limit_are_413_declared_or_streamed() -> None:
    http = client(max_body_bytes=10)

    declared = http.post("/echo", content=b"x" * 11)
    streamed = http.post("/echo", content=iter([b"x" * 6, b"x" * 6]))
    small = http.post("/echo", content=b"x" * 10)

    for response in (declared, streamed):
        assert response.status_code == 413
        assert response.json()["error"]["code"] == "payload_too_large"
    assert small.json() == {"size": 10}


def test_rate_limited_answers_carry_retry_after() -> None:
    response = client().get("/limited")

    assert response.status_code == 429
    assert response.headers["retry-after"] == "3"
    assert response.json()["error"]["details"] == {"limit": "tenant", "retry_after_seconds": 3}
