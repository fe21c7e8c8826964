"""One error shape for every API, and the exceptions that produce it."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from parley.kit.telemetry import get_logger

log = get_logger(__name__)


class DomainError(Exception):
    """An expected failure with a stable machine-readable code and an HTTP status."""

    code = "bad_request"
    status_code = 400

    def __init__(self, message: str, *, details: Any = None, code: str | None = None,
                 status_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        if code:
            self.code = code
        if status_code:
            self.status_code = status_code


class NotFound(DomainError):
    code = "not_found"
    status_code = 404


class Unauthorized(DomainError):
    code = "unauthorized"
    status_code = 401


class Forbidden(DomainError):
    code = "forbidden"
    status_code = 403


class PayloadTooLarge(DomainError):
    code = "payload_too_large"
    status_code = 413


class Conflict(DomainError):
    code = "conflict"
    status_code = 409


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"success": False, "error": {"code": code, "message": message, "details": details}}


def error_response(code: str, message: str, status_code: int, details: Any = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(code, message, details), status_code=status_code, headers=headers)


_HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed", 409: "conflict", 413: "payload_too_large",
               415: "unsupported_media_type", 429: "rate_limited"}


def install_error_handlers(app: FastAPI) -> None:
    """Render every error, including framework ones, in the standard shape."""

    @app.exception_handler(DomainError)
    async def _domain(_: Request, exc: DomainError) -> JSONResponse:
        return error_response(exc.code, exc.message, exc.status_code, exc.details)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
        return error_response("validation_error", "the request is invalid", 422, details)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        return error_response(code, str(exc.detail), exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:  # what escapes the middleware below
        return unexpected_error_response(exc)

    app.add_middleware(UnexpectedErrors)


def unexpected_error_response(exc: BaseException) -> JSONResponse:
    if _unstorable_text(exc):
        return error_response("invalid_text", "text fields must not contain NUL characters or unpaired "
                              "UTF-16 surrogates", 422)
    return error_response("internal_error", "an unexpected error occurred", 500)


class UnexpectedErrors:
    """An exception no handler took becomes the standard 500 (or 422 for unstorable text) right here, logged.

    Starlette's own last-resort handler answers too, but then re-raises, and uvicorn closes the keep-alive
    connection: the gateway's next request on it, somebody else's, would fail as ``upstream_unavailable``.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking)
        except Exception as exc:
            if started:  # too late for an error response: let the server end the connection
                raise
            response = unexpected_error_response(exc)
            if response.status_code >= 500:
                log.error("unexpected error", method=scope.get("method"), path=scope.get("path"), exc_info=exc)
            await response(scope, receive, send)


#: SQLSTATEs of text Postgres cannot store: 22021 (e.g. a NUL byte), 22P05 (untranslatable character).
_TEXT_SQLSTATES = frozenset({"22021", "22P05"})


def _unstorable_text(exc: BaseException | None) -> bool:
    """Whether a request failed only because some text it carried cannot be stored (valid JSON, bad for Postgres)."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, UnicodeEncodeError) and "surrogate" in str(exc):
            return True
        if getattr(exc, "sqlstate", None) in _TEXT_SQLSTATES:
            return True
        exc = getattr(exc, "orig", None) or exc.__cause__ or exc.__context__
    return False
