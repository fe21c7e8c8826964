"""Crash points for fault-injection tests: ``PARLEY_FAULTS=relay.mid_batch@3`` kills the process
the third time that point is reached, exactly like SIGKILL (no cleanup, no flush).

Only honoured outside production; a no-op otherwise.
"""

from __future__ import annotations

import functools
import os
from collections import Counter

_hits: Counter[str] = Counter()


def _armed() -> dict[str, int]:
    """The armed points, parsed again only when the environment changed (hot paths reach crash points)."""
    return _parse(os.environ.get("PARLEY_ENV"), os.environ.get("PARLEY_FAULTS", ""))


@functools.lru_cache(maxsize=16)
def _parse(env: str | None, faults: str) -> dict[str, int]:
    if env == "production":
        return {}
    armed: dict[str, int] = {}
    for item in filter(None, faults.split(",")):
        name, _, nth = item.strip().partition("@")
        armed[name] = int(nth or 1)
    return armed


def crash_point(name: str) -> None:
    """Die here (exit 137, no cleanup) when this point is armed and reached the armed number of times."""
    nth = _armed().get(name)
    if nth is None:
        return
    _hits[name] += 1
    if _hits[name] >= nth:
        os._exit(137)
