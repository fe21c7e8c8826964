"""CloudEvents Kafka protocol binding, binary content mode.

The Kafka record value is the JSON ``data``; every other attribute travels as a ``ce_<name>``
header, ``content-type`` says ``application/json``, and the W3C ``traceparent`` header is set
too so standard OpenTelemetry propagators find the trace. Binary mode lets consumers dedupe,
route and dead-letter on headers without parsing bodies, and keeps the value a plain payload.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import ValidationError

from parley.contracts.envelope import Envelope
from parley.contracts.registry import partition_key

_ATTRIBUTES = ("specversion", "id", "type", "source", "time", "subject", "tenantid", "traceparent",
               "schemaversion")
# CloudEvents' REQUIRED attributes: without ce_id the envelope would get a fresh id and defeat dedup.
_REQUIRED = ("specversion", "id", "type", "source")


class MalformedEvent(ValueError):
    """A Kafka record that is not a valid Parley CloudEvent."""


def to_record(envelope: Envelope) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    """Return (key, value, headers) for publishing ``envelope``."""
    attributes = envelope.model_dump(mode="json", include=set(_ATTRIBUTES), exclude_none=True)
    headers = [(f"ce_{name}", str(value).encode()) for name, value in attributes.items()]
    headers.append(("content-type", envelope.datacontenttype.encode()))
    if envelope.traceparent:
        headers.append(("traceparent", envelope.traceparent.encode()))
    value = json.dumps(envelope.data, separators=(",", ":"), ensure_ascii=False).encode()
    return partition_key(envelope).encode(), value, headers


def stored_to_record(stored: Mapping[str, Any], key: str) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    """``to_record`` of an envelope as stored (its JSON form, validated when it was appended) and its stored key.

    What the outbox relay publishes: the same record ``to_record(Envelope.model_validate(stored))`` gives
    (tests hold them to each other), without validating each event again on its way out.
    """
    headers = [(f"ce_{name}", str(stored[name]).encode()) for name in _ATTRIBUTES if stored.get(name) is not None]
    headers.append(("content-type", str(stored.get("datacontenttype") or "application/json").encode()))
    if stored.get("traceparent"):
        headers.append(("traceparent", str(stored["traceparent"]).encode()))
    value = json.dumps(stored["data"], separators=(",", ":"), ensure_ascii=False).encode()
    return key.encode(), value, headers


def from_record(value: bytes, headers: Iterable[tuple[str, bytes]] | Mapping[str, bytes]) -> Envelope:
    """Rebuild the envelope from a consumed record; raises ``MalformedEvent`` when it cannot."""
    items = headers.items() if isinstance(headers, Mapping) else headers
    attributes: dict[str, str] = {}
    for name, raw in items:
        # Unknown ce_ extensions are skipped so a producer adding one never poisons older consumers.
        if name.startswith("ce_") and name[3:] in _ATTRIBUTES:
            try:
                attributes[name[3:]] = raw.decode() if isinstance(raw, bytes) else str(raw)
            except UnicodeDecodeError as exc:
                raise MalformedEvent(f"header {name} is not UTF-8: {exc}") from exc
    missing = [f"ce_{name}" for name in _REQUIRED if name not in attributes]
    if missing:
        raise MalformedEvent(f"missing CloudEvents header(s): {', '.join(missing)}")
    try:
        data = json.loads(value)
    except (TypeError, UnicodeDecodeError, json.JSONDecodeError) as exc:  # TypeError: a null (tombstone)
        raise MalformedEvent(f"value is not JSON: {exc}") from exc
    try:
        return Envelope.model_validate({**attributes, "data": data})
    except ValidationError as exc:
        raise MalformedEvent(f"invalid CloudEvent attributes: {exc.errors(include_url=False)}") from exc
