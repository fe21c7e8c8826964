"""A hook's mapping: which payload paths give the event name, the customer's phone and the variables.

Stored as ``{"phone": path, "variables": {name: path}, "event_path": path}``. Checked when a hook
is created or changed (syntax, and optionally against a sample payload); applied to each payload.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import phonenumbers

from parley.ingest.hooks import paths

VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
MAX_VARIABLES = 100


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a mapping: the mapping field, the path given, and what is wrong."""

    field: str
    path: str | None
    problem: str

    def __str__(self) -> str:
        return f"{self.field}: {self.problem}"


@dataclass(frozen=True)
class Mapped:
    event: str
    phone: str | None
    variables: dict[str, Any] = field(default_factory=dict)


def mapping_fields(mapping: dict[str, Any]) -> list[tuple[str, str]]:
    """``(field, path)`` for every path the mapping names, e.g. ``("mapping.variables.amount", "data.total")``."""
    named = [("mapping.phone", mapping.get("phone")), ("mapping.event_path", mapping.get("event_path"))]
    named += [(f"mapping.variables.{name}", path) for name, path in (mapping.get("variables") or {}).items()]
    return [(name, path) for name, path in named if path is not None]


def check_syntax(mapping: dict[str, Any]) -> list[Problem]:
    """Every problem of the mapping's paths and variable names (empty when it is fine)."""
    problems: list[Problem] = []
    variables = mapping.get("variables") or {}
    if len(variables) > MAX_VARIABLES:
        problems.append(Problem("mapping.variables", None, f"has {len(variables)} variables; at most "
                                                           f"{MAX_VARIABLES} are allowed"))
    for name in variables:
        if not VARIABLE_NAME.fullmatch(name):
            problems.append(Problem(f"mapping.variables.{name}", None,
                                    f"`{name}` is not a valid variable name (letters, digits and _, not starting "
                                    "with a digit, at most 64 characters)"))
    for name, path in mapping_fields(mapping):
        if not isinstance(path, str):
            problems.append(Problem(name, None, f"the path must be a string, not {type(path).__name__}"))
            continue
        try:
            paths.parse(path)
        except paths.PathSyntaxError as exc:
            problems.append(Problem(name, path, f"{exc} (write paths like `data.buyer.phone` or `items[0].sku`)"))
    return problems


def check_sample(mapping: dict[str, Any], sample: dict[str, Any]) -> list[Problem]:
    """Paths that do not resolve in a sample payload, each with the reason (assumes valid syntax)."""
    problems: list[Problem] = []
    for name, path in mapping_fields(mapping):
        steps = paths.parse(path)
        value = paths.resolve(sample, steps)
        if value is paths.MISSING:
            problems.append(Problem(name, path, f"`{path}` is not in the sample: "
                                                f"{paths.explain_missing(sample, steps)}"))
        elif name == "mapping.event_path" and not _scalar(value):
            problems.append(Problem(name, path, f"`{path}` must give a text event name, not {type(value).__name__}"))
        elif name == "mapping.phone" and normalize_phone(value, None) is None:
            problems.append(Problem(name, path, f"`{path}` gives {value!r}, which has no phone digits"))
    return problems


def apply(mapping: dict[str, Any], payload: dict[str, Any], *, default_event: str,
          default_region: str | None) -> Mapped:
    """The business event in a payload; absent paths give ``None`` (the phone may be absent too)."""
    values = {name: _value(payload, path) for name, path in (mapping.get("variables") or {}).items()}
    event = default_event
    if mapping.get("event_path"):
        raw = _value(payload, mapping["event_path"])
        if _scalar(raw) and str(raw).strip():
            event = str(raw).strip()
    phone = normalize_phone(_value(payload, mapping["phone"]), default_region) if mapping.get("phone") else None
    return Mapped(event=event, phone=phone, variables=values)


def _value(payload: dict[str, Any], path: str) -> Any:
    found = paths.resolve(payload, paths.parse(path))
    return None if found is paths.MISSING else found


def _scalar(value: Any) -> bool:
    return isinstance(value, str | int | float) and not isinstance(value, bool)


def normalize_phone(value: Any, default_region: str | None) -> str | None:
    """Digits of an E.164 number (no ``+``) when one can be recognised, else the bare digits, else ``None``.

    ``+55 11 98765-4321`` and ``5511987654321`` are recognised anywhere; a national number such as
    ``(11) 98765-4321`` needs the hook's default region (``BR``).
    """
    if isinstance(value, list):
        value = next((v for v in value if v not in (None, "")), None)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not _scalar(value):
        return None
    text = str(value).strip()
    digits = re.sub(r"\D", "", text)
    if not digits:
        return None
    if text.startswith("+"):
        candidates = [("+" + digits, None)]
    elif text.startswith("00"):
        candidates = [("+" + digits[2:], None)]
    else:
        candidates = ([(text, default_region)] if default_region else []) + [("+" + digits, None)]
    for number, region in candidates:
        try:
            parsed = phonenumbers.parse(number, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(parsed):
            return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)[1:]
    return digits


def supported_region(region: str) -> bool:
    return region.upper() in phonenumbers.SUPPORTED_REGIONS
