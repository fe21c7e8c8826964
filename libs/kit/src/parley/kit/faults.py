"""Crash points for fault-injection tests: ``PARLEY_FAULTS=relay.mid_batch@3`` kills the process
the third time that point is reached, exactly like SIGKILL (no cleanup, no flush).

Only honoured outside production; a no-op otherwise.
"""

from __future__ import annotations

import os
from collections import Counter

_hits: Counter[str] = Counter()


def _armed() -> dict[str, int]:
    if os.environ.get("PARLEY_ENV") == "production":
        return {}
    armed: dict[str, int] = {}
    for item in filter(None, os.environ.get("PARLEY_FAULTS", "").split(",")):
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
