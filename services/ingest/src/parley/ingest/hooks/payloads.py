"""Hook bodies → a dict: JSON objects (nested or flat) and form-encoded bodies. Pure functions."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from parley.ingest.normalizer import Unreadable

FORM = "application/x-www-form-urlencoded"
MAX_FORM_FIELDS = 2000


def content_type_of(headers: Mapping[str, Any]) -> str | None:
    """The Content-Type among stored or live headers, whatever their case."""
    return next((str(v) for k, v in headers.items() if k.lower() == "content-type"), None)


def parse_body(body: bytes, content_type: str | None) -> dict[str, Any]:
    """The payload as a dict; raises ``Unreadable`` saying why when it is not one."""
    mime, charset = _media_type(content_type)
    if not body.strip():
        raise Unreadable("the body is empty")
    try:
        text = body.decode(charset)
    except (LookupError, UnicodeDecodeError) as exc:
        raise Unreadable(f"the body is not valid {charset} text: {exc}") from None
    if mime == FORM:
        return parse_form(text)
    if mime is None or mime.endswith("json") or mime.startswith("text/"):
        try:
            payload = json.loads(text)
        except json.JSONDecodeError as exc:
            if mime is None and "=" in text:
                return parse_form(text)
            raise Unreadable(f"the body is not valid JSON: {exc}") from None
        if not isinstance(payload, dict):
            raise Unreadable(f"the JSON body is {type(payload).__name__}, not an object")
        return payload
    raise Unreadable(f"unsupported content type {mime}: send application/json or {FORM}")


def parse_form(text: str) -> dict[str, Any]:
    """``a=1&b=2&b=3`` → ``{"a": "1", "b": ["2", "3"]}``: keys kept whole, repeated keys become lists."""
    try:
        pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS)
    except ValueError as exc:
        raise Unreadable(f"the form body is not readable: {exc}") from None
    if not pairs:
        raise Unreadable("the form body has no fields")
    fields: dict[str, Any] = {}
    for key, value in pairs:
        if key not in fields:
            fields[key] = value
        elif isinstance(fields[key], list):
            fields[key].append(value)
        else:
            fields[key] = [fields[key], value]
    return fields


def try_parse(body: bytes, content_type: str | None) -> dict[str, Any] | None:
    """The payload when readable, else ``None`` (the webhook is stored anyway and quarantined later)."""
    try:
        return parse_body(body, content_type)
    except Unreadable:
        return None


def _media_type(content_type: str | None) -> tuple[str | None, str]:
    if not content_type:
        return None, "utf-8"
    mime, *params = (part.strip() for part in content_type.split(";"))
    charset = next((p.split("=", 1)[1].strip().strip('"') for p in params if p.lower().startswith("charset=")),
                   "utf-8")
    return mime.lower() or None, charset or "utf-8"
