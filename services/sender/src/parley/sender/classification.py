"""What to do with a Graph API error, by Meta's code (the facts document's table), and how long to wait."""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import Enum


class Disposition(Enum):
    THROTTLED = "throttled"      # wait and retry, never give up: a throttled message is not failed
    TRANSIENT = "transient"      # retry with backoff, fail after the attempt budget
    PERMANENT = "permanent"      # fail now with Meta's code and reason
    NEEDS_TOKEN = "needs_token"  # hold the channel's messages until a new token is registered


THROUGHPUT = 130429
PAIR_RATE = 131056
TOKEN_EXPIRED = 190
THROTTLING_CODES = frozenset({THROUGHPUT, PAIR_RATE, 131057, 4, 80007})
TRANSIENT_CODES = frozenset({131000, 2, 131016})
PERMANENT_CODES = frozenset({131026, 131047, 131048, 131049, 368, 132000, 132001, 100})


@dataclass(frozen=True)
class Retry:
    """Backoff tuning (from settings)."""

    base_seconds: float = 0.5
    max_seconds: float = 60.0
    pair_base_seconds: float = 4.0
    pair_max_seconds: float = 900.0


def classify(code: int | None, http_status: int | None = None) -> Disposition:
    """Meta's ``error.code`` decides; without one (a 5xx page, a proxy error) the HTTP status does."""
    if code == TOKEN_EXPIRED or (code is None and http_status == 401):
        return Disposition.NEEDS_TOKEN
    if code in THROTTLING_CODES:
        return Disposition.THROTTLED
    if code in TRANSIENT_CODES:
        return Disposition.TRANSIENT
    if code in PERMANENT_CODES:
        return Disposition.PERMANENT
    if http_status is not None and (http_status >= 500 or http_status == 429):
        return Disposition.TRANSIENT
    # An unknown 4xx code: resending the same request would fail the same way.
    return Disposition.PERMANENT


def backoff_seconds(code: int | None, attempt: int, retry: Retry, rng: random.Random | None = None) -> float:
    """Delay before attempt ``attempt + 1`` (``attempt`` >= 1 failures so far).

    131056 follows Meta's advice for the pair limit, 4^n seconds; everything else doubles from the
    base up to the cap. Jitter keeps the upper half random ("equal jitter") so replicas retrying
    together spread out but a delay never collapses to zero.
    """
    rng = rng or random
    n = max(1, attempt)
    if code == PAIR_RATE:
        ceiling = min(retry.pair_max_seconds, retry.pair_base_seconds ** n)
    else:
        ceiling = min(retry.max_seconds, retry.base_seconds * 2 ** (n - 1))
    return ceiling / 2 + rng.uniform(0, ceiling / 2)
