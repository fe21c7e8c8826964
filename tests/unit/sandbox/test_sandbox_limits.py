"""Rate-limit arithmetic: the sliding throughput window, the pair rate with bursts, the window count."""

from __future__ import annotations

from parley.sandbox.limits import PairRateLimiter, ThroughputLimiter, max_in_any_window


def test_throughput_admits_the_limit_per_sliding_second_and_frees_slots_as_they_age() -> None:
    limiter = ThroughputLimiter()
    assert all(limiter.try_admit("n", 3, now) for now in (10.0, 10.2, 10.4))
    assert not limiter.try_admit("n", 3, 10.9)  # three inside (9.9, 10.9]
    assert limiter.try_admit("n", 3, 11.0)  # 10.0 has left the window (10.0, 11.0]
    assert not limiter.try_admit("n", 3, 11.1)
    assert limiter.try_admit("other", 3, 11.1)  # numbers do not share a budget


def test_throughput_never_lets_any_one_second_window_exceed_the_limit() -> None:
    limiter, admitted = ThroughputLimiter(), []
    for step in range(2000):
        now = step * 0.003
        if limiter.try_admit("n", 80, now):
            admitted.append(now)
    assert max_in_any_window(admitted) == 80
    assert len(admitted) >= 80 * 5


def test_a_refused_check_does_not_use_up_the_budget() -> None:
    limiter = ThroughputLimiter()
    assert limiter.would_admit("n", 1, 0.0)
    assert limiter.would_admit("n", 1, 0.0)  # only admit() counts
    limiter.admit("n", 0.0)
    assert not limiter.would_admit("n", 1, 0.5)


def test_pair_rate_allows_a_burst_then_one_per_interval() -> None:
    limiter = PairRateLimiter()
    assert all(limiter.try_admit("pair", 3, 6.0, 0.0) for _ in range(3))
    assert not limiter.try_admit("pair", 3, 6.0, 0.0)
    assert limiter.retry_after("pair", 3, 6.0, 0.0) == 6.0
    assert not limiter.try_admit("pair", 3, 6.0, 5.9)
    assert limiter.try_admit("pair", 3, 6.0, 6.0)  # the burst is paid back at the steady rate
    assert not limiter.try_admit("pair", 3, 6.0, 6.0)
    assert limiter.try_admit("other pair", 3, 6.0, 6.0)


def test_pair_rate_quota_refills_to_a_full_burst_after_idling() -> None:
    limiter = PairRateLimiter()
    for _ in range(2):
        assert limiter.try_admit("pair", 2, 6.0, 0.0)
    assert all(limiter.try_admit("pair", 2, 6.0, 100.0) for _ in range(2))
    assert not limiter.try_admit("pair", 2, 6.0, 100.0)


def test_max_in_any_window_counts_half_open_one_second_windows() -> None:
    assert max_in_any_window([]) == 0
    assert max_in_any_window([0.0, 1.0, 2.0]) == 1  # (0, 1] holds only 1.0
    assert max_in_any_window([0.0, 0.5, 0.99, 1.2, 1.6]) == 3
