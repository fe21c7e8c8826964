"""Golden samples: one realistic structured-mode CloudEvent per registered (type, version).

Files are named ``<type>.v<version>.json``; extra shapes of the same event add a variant,
``<type>.v<version>.<variant>.json`` (e.g. ``message.received.v1.image.json``). They ship in the
wheel so any service can test that it still parses every published shape.
"""

from __future__ import annotations

import json
import re
from importlib.resources import files
from typing import Any

_NAME = re.compile(r"^(?P<type>[a-z][a-z0-9.-]*?)\.v(?P<version>[1-9][0-9]*)(?:\.(?P<variant>[a-z0-9_]+))?$")


def parse_name(name: str) -> tuple[str, int, str | None]:
    """Split a sample name into (event type, schema version, variant or None)."""
    match = _NAME.match(name)
    if match is None:
        raise ValueError(f"golden sample name {name!r} is not <type>.v<version>[.<variant>]")
    return match["type"], int(match["version"]), match["variant"]


def samples() -> list[tuple[str, dict[str, Any]]]:
    """Every golden sample as (name without ``.json``, parsed structured envelope), sorted by name."""
    found = [
        (entry.name.removesuffix(".json"), json.loads(entry.read_text(encoding="utf-8")))
        for entry in files(__name__).iterdir()
        if entry.name.endswith(".json")
    ]
    return sorted(found, key=lambda item: item[0])


def samples_for(event_type: str, version: int) -> list[tuple[str, dict[str, Any]]]:
    """The golden samples of one (type, version), the main one first."""
    return [(name, doc) for name, doc in samples() if parse_name(name)[:2] == (event_type, version)]
