"""The sandbox's ASGI app: Graph API, admin API, probes, and the webhook dispatcher in the lifespan."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from parley.sandbox import admin, graph
from parley.sandbox.customers import SandboxError
from parley.sandbox.errors import GraphError
from parley.sandbox.service import Sandbox
from parley.sandbox.settings import SandboxSettings
from parley.sandbox.store import Clock


def create_app(settings: SandboxSettings | None = None, *, clock: Clock | None = None,
               webhook_client: httpx.AsyncClient | None = None) -> FastAPI:
    """The app; ``clock`` and ``webhook_client`` let unit tests freeze time and catch webhooks in-process."""
    sandbox = Sandbox(settings or SandboxSettings(), clock, webhook_client=webhook_client)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        dispatcher = asyncio.create_task(sandbox.outbox.run(), name="webhook-dispatcher")
        app.state.dispatcher_running = True
        try:
            yield
        finally:
            app.state.dispatcher_running = False
            dispatcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await dispatcher

    app = FastAPI(title="Parley Cloud API sandbox", version="0.1.0", lifespan=lifespan,
                  description="Behaves like Meta's WhatsApp Business Cloud API, for development and tests.")
    app.state.sandbox = sandbox
    app.add_middleware(graph.SendFastPath, sandbox=sandbox)
    app.state.dispatcher_running = False
    # /sandbox/* first: the Graph route /{version}/{object_id} would otherwise swallow /sandbox/<name>.
    app.include_router(admin.probes)
    app.include_router(admin.router)
    app.include_router(graph.router)

    @app.exception_handler(GraphError)
    async def _graph_error(_: Request, error: GraphError) -> JSONResponse:
        return error.response()

    @app.exception_handler(SandboxError)
    async def _sandbox_error(_: Request, error: SandboxError) -> JSONResponse:
        return JSONResponse({"success": False, "error": {"code": error.code, "message": error.message,
                                                         "details": None}}, status_code=error.status_code)

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(_: Request, error: RequestValidationError) -> JSONResponse:
        details = [{"loc": list(e["loc"]), "msg": e["msg"]} for e in error.errors()]
        return JSONResponse({"success": False, "error": {"code": "validation_error", "message": "invalid request",
                                                         "details": details}}, status_code=422)

    return app
