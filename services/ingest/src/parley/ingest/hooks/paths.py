"""Field paths into hook payloads: ``data.buyer.phone``, ``items[0].sku``, ``customer[phone]``.

A path is field names joined by dots, with ``[n]`` list indexes (``[-1]`` is the last item) and
``[name]`` as another way to write a field (``a[b.c]`` reaches a key that contains dots).
Flat payloads keep whole paths as keys (form bodies: ``customer.phone=...`` or
``customer[phone]=...``), so resolution tries the longest literal key first, then nests.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

MAX_PATH_LENGTH = 256
_INDEX = re.compile(r"-?\d+")


@dataclass(frozen=True)
class Key:
    name: str


@dataclass(frozen=True)
class Index:
    position: int


Step = Key | Index
Path = tuple[Step, ...]


class PathSyntaxError(ValueError):
    def __init__(self, path: str, problem: str, position: int | None = None) -> None:
        where = f" at character {position + 1}" if position is not None else ""
        super().__init__(f"`{path}` {problem}{where}")
        self.problem = problem


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


def parse(path: str) -> Path:
    """The steps of a path; raises ``PathSyntaxError`` saying what is wrong and where."""
    if not isinstance(path, str) or not path:
        raise PathSyntaxError(str(path), "is empty")
    if len(path) > MAX_PATH_LENGTH:
        raise PathSyntaxError(path[:40] + "...", f"is longer than {MAX_PATH_LENGTH} characters")
    if path != path.strip():
        raise PathSyntaxError(path, "has leading or trailing spaces")
    steps: list[Step] = []
    i, expect_name = 0, True
    while i < len(path):
        if expect_name:
            end = _name_end(path, i)
            if end == i:
                what = "starts with" if i == 0 else "has an empty field name"
                raise PathSyntaxError(path, f"{what} `{path[i]}`" if i == 0 else what, i)
            steps.append(Key(path[i:end]))
            i, expect_name = end, False
        elif path[i] == ".":
            if i + 1 == len(path):
                raise PathSyntaxError(path, "ends with `.`", i)
            i, expect_name = i + 1, True
        elif path[i] == "[":
            close = path.find("]", i + 1)
            if close < 0:
                raise PathSyntaxError(path, "has an unclosed `[`", i)
            inside = path[i + 1:close]
            if not inside or "[" in inside:
                raise PathSyntaxError(path, "has an empty or nested `[...]`", i)
            steps.append(Index(int(inside)) if _INDEX.fullmatch(inside) else Key(inside))
            i = close + 1
        else:
            raise PathSyntaxError(path, f"has `{path[i]}` where `.` or `[` was expected", i)
    return tuple(steps)


def _name_end(path: str, start: int) -> int:
    end = start
    while end < len(path) and path[end] not in ".[]":
        end += 1
    return end


def render(steps: Path) -> str:
    """The dotted form of steps: ``data.items[0].sku``."""
    out = ""
    for step in steps:
        out += f"[{step.position}]" if isinstance(step, Index) else (f".{step.name}" if out else step.name)
    return out


def _literal_keys(steps: Path) -> list[str]:
    """Keys a flat payload may use for these steps: dotted, then PHP-style brackets."""
    first = steps[0]
    if len(steps) == 1:
        return [first.name] if isinstance(first, Key) else [str(first.position)]
    if not isinstance(first, Key):
        return []
    bracketed = first.name + "".join(f"[{s.position if isinstance(s, Index) else s.name}]" for s in steps[1:])
    return list(dict.fromkeys([render(steps), bracketed]))


def resolve(payload: Any, steps: Path) -> Any:
    """The value at ``steps``, or ``MISSING``. A literal key beats nesting; a dead end backtracks."""
    if not steps:
        return payload
    if isinstance(payload, dict):
        for size in range(len(steps), 0, -1):
            for key in _literal_keys(steps[:size]):
                if key in payload:
                    found = resolve(payload[key], steps[size:])
                    if found is not MISSING:
                        return found
        return MISSING
    step = steps[0]
    if isinstance(payload, list) and isinstance(step, Index) and -len(payload) <= step.position < len(payload):
        return resolve(payload[step.position], steps[1:])
    return MISSING


def explain_missing(payload: Any, steps: Path) -> str:
    """Why a path does not resolve, following it nested: the first step that fails and what is there."""
    node, walked = payload, ""
    for step in steps:
        here = f"`{walked}`" if walked else "the payload"
        if isinstance(step, Index):
            if not isinstance(node, list):
                return f"{here} is {_kind(node)}, not a list, so `[{step.position}]` does not apply"
            if not -len(node) <= step.position < len(node):
                return f"{here} has {len(node)} item(s); index {step.position} is out of range"
            node, walked = node[step.position], f"{walked}[{step.position}]"
            continue
        if not isinstance(node, dict):
            return f"{here} is {_kind(node)}, not an object, so it has no field `{step.name}`"
        if step.name not in node:
            keys = ", ".join(sorted(map(str, node))[:10]) or "no fields"
            return f"{here} has no field `{step.name}` (it has: {keys})"
        node, walked = node[step.name], f"{walked}.{step.name}" if walked else step.name
    return "not found"


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(type(value), "a number")
