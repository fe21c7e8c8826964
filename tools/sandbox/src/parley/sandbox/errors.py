"""Graph API errors exactly as Meta renders them: ``{"error": {"message": "(#code) ...", ...}}``."""

from __future__ import annotations

import secrets
import string
from typing import Any

from fastapi.responses import JSONResponse

#: Meta's title for each code the sandbox raises (the ``message`` after ``(#code)``).
TITLES: dict[int, str] = {
    2: "Service temporarily unavailable",
    4: "Application request limit reached",
    100: "Invalid parameter",
    190: "Invalid OAuth access token - Cannot parse access token",
    368: "Temporarily blocked for policies violations",
    130429: "Rate limit hit",
    131000: "Something went wrong",
    131016: "Service unavailable",
    131026: "Message undeliverable",
    131047: "Re-engagement message",
    131048: "Spam rate limit hit",
    131049: "This message was not delivered to maintain healthy ecosystem engagement.",
    131053: "Media upload error",
    131056: "(Business Account, Consumer Account) pair rate limit hit",
    131057: "Account in maintenance mode",
    132000: "Number of parameters does not match the expected number of params",
    132001: "Template name does not exist in the translation",
    80007: "Rate limit issues",
    2500: "Unknown path components",
}

#: HTTP status Meta answers with; everything not listed is 400.
HTTP_STATUS: dict[int, int] = {190: 401, 2: 503, 131016: 503, 131000: 500}

_FBTRACE_ALPHABET = string.ascii_letters + string.digits + "_-"


def fbtrace_id() -> str:
    return "A" + "".join(secrets.choice(_FBTRACE_ALPHABET) for _ in range(22))


def title(code: int) -> str:
    return TITLES.get(code, "Unknown error")


class GraphError(Exception):
    """An error the Graph API answers a request with (not an HTTP framework error)."""

    def __init__(self, code: int, details: str, *, error_subcode: int | None = None,
                 error_type: str = "OAuthException") -> None:
        super().__init__(f"({code}) {details}")
        self.code = code
        self.details = details
        self.error_subcode = error_subcode
        self.error_type = error_type

    @property
    def http_status(self) -> int:
        return HTTP_STATUS.get(self.code, 400)

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {
            "message": f"(#{self.code}) {title(self.code)}",
            "type": self.error_type,
            "code": self.code,
            "error_data": {"messaging_product": "whatsapp", "details": self.details},
            "fbtrace_id": fbtrace_id(),
        }
        if self.error_subcode is not None:
            error["error_subcode"] = self.error_subcode
        return {"error": error}

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.http_status)


def invalid(details: str) -> GraphError:
    """Code 100: a missing or malformed field."""
    return GraphError(100, details)


def unknown_object(object_id: str, method: str) -> GraphError:
    """What Graph answers for an id that is neither a registered number nor a media object."""
    return GraphError(
        100,
        f"Unsupported {method} request. Object with ID '{object_id}' does not exist, cannot be loaded due to "
        "missing permissions, or does not support this operation.",
        error_subcode=33, error_type="GraphMethodException",
    )


def status_error(code: int, details: str) -> dict[str, Any]:
    """The ``errors[]`` item of a failed status webhook."""
    return {
        "code": code,
        "title": title(code),
        "message": title(code),
        "error_data": {"details": details},
        "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
    }
