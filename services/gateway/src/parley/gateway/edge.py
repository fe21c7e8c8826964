"""What wraps the gateway's app: body size limit, CORS, and ``Retry-After`` on 429s."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from parley.gateway.ratelimit import RateLimited
from parley.gateway.settings import GatewaySettings
from parley.kit.errors import PayloadTooLarge, error_response


class BodyLimit:
    """Refuses bodies over ``limit`` bytes: declared ones before the app runs, streamed ones as they arrive."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.limit:
            response = error_response("payload_too_large", f"the body exceeds {self.limit} bytes", 413)
            await response(scope, receive, send)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:  # raised inside the app, so its error handler answers 413
                    raise PayloadTooLarge(f"the body exceeds {self.limit} bytes")
            return message

        await self.app(scope, counting_receive, send)


async def _rate_limited(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RateLimited)
    return error_response(exc.code, exc.message, exc.status_code, exc.details,
                          headers={"Retry-After": str(exc.retry_after)})


def wrapper(settings: GatewaySettings):  # noqa: ANN201 - returns the ServiceDefinition's asgi_wrapper
    def wrap(app: ASGIApp) -> ASGIApp:
        assert isinstance(app, FastAPI)
        app.add_exception_handler(RateLimited, _rate_limited)
        if settings.cors_origins:
            app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_credentials=False,
                               allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                               allow_headers=["authorization", "content-type", "idempotency-key", "traceparent"],
                               expose_headers=["retry-after", "idempotent-replayed", "content-disposition"],
                               max_age=600)
        return BodyLimit(app, settings.max_body_bytes)

    return wrap
