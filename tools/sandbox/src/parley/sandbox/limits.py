"""Meta's send limits: per-number throughput and the per-recipient pair rate.

Both are pure arithmetic over a monotonic clock reading passed in by the caller, so they are
tested without sleeping.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable, Sequence

WINDOW_SECONDS = 1.0


class ThroughputLimiter:
    """At most ``limit`` accepted messages per number in any sliding window of one second.

    A message at time ``t`` is admitted when fewer than ``limit`` were admitted in ``(t - 1 s, t]``;
    so no window ``(a, a + 1 s]`` ever holds more than ``limit`` (what ``max_in_any_window`` reports).
    """

    def __init__(self) -> None:
        self._admitted: dict[Hashable, deque[float]] = {}

    def would_admit(self, key: Hashable, limit: int, now: float) -> bool:
        window = self._admitted.setdefault(key, deque())
        while window and window[0] <= now - WINDOW_SECONDS:
            window.popleft()
        return len(window) < limit

    def admit(self, key: Hashable, now: float) -> None:
        """Count an accepted message (after ``would_admit`` said yes)."""
        self._admitted.setdefault(key, deque()).append(now)

    def try_admit(self, key: Hashable, limit: int, now: float) -> bool:
        if not self.would_admit(key, limit, now):
            return False
        self.admit(key, now)
        return True

    def reset(self) -> None:
        self._admitted.clear()


class PairRateLimiter:
    """One message per ``interval`` to the same recipient, with bursts of up to ``burst``.

    A generic cell rate algorithm (the token bucket without a timer): each message pushes the
    pair's theoretical arrival time ``interval`` further; a message is refused while that time is
    more than ``(burst - 1) * interval`` ahead of now. A burst thus borrows from future quota and
    is paid back at the steady rate, as Meta describes it.
    """

    def __init__(self) -> None:
        self._arrival: dict[Hashable, float] = {}

    def would_admit(self, key: Hashable, burst: int, interval: float, now: float) -> bool:
        return self.retry_after(key, burst, interval, now) == 0.0

    def admit(self, key: Hashable, interval: float, now: float) -> None:
        """Count an accepted message (after ``would_admit`` said yes)."""
        self._arrival[key] = max(self._arrival.get(key, now), now) + interval

    def try_admit(self, key: Hashable, burst: int, interval: float, now: float) -> bool:
        if not self.would_admit(key, burst, interval, now):
            return False
        self.admit(key, interval, now)
        return True

    def retry_after(self, key: Hashable, burst: int, interval: float, now: float) -> float:
        """Seconds until the pair admits a message again (0 when it already does)."""
        arrival = max(self._arrival.get(key, now), now)
        return max(0.0, arrival - now - (burst - 1) * interval)

    def reset(self) -> None:
        self._arrival.clear()


def max_in_any_window(times: Sequence[float], window: float = WINDOW_SECONDS) -> int:
    """The largest number of ``times`` (sorted ascending) inside any window ``(a, a + window]``."""
    best, start = 0, 0
    for end, moment in enumerate(times):
        while times[start] <= moment - window:
            start += 1
        best = max(best, end - start + 1)
    return best
