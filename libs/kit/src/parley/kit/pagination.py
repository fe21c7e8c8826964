"""Cursor pagination: opaque cursors over a (sort value, id) keyset, one response shape everywhere."""

from __future__ import annotations

import base64
import json
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from parley.kit.errors import DomainError

T = TypeVar("T")


class InvalidCursor(DomainError):
    code = "invalid_cursor"
    status_code = 400


def encode_cursor(*values: Any) -> str:
    raw = json.dumps([str(v) for v in values], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, parts: int) -> list[str]:
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, UnicodeDecodeError):
        raise InvalidCursor("the cursor is not one this API issued") from None
    if not isinstance(values, list) or len(values) != parts or not all(isinstance(v, str) for v in values):
        raise InvalidCursor("the cursor is not one this API issued")
    return values


class PageInfo(BaseModel):
    limit: int
    has_more: bool
    next_cursor: str | None = None
    prev_cursor: str | None = None


class Page(BaseModel, Generic[T]):
    success: bool = True
    data: list[T]
    pagination: PageInfo
