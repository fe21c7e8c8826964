"""Meta's error codes decide retry, failure or hold; backoff grows as Meta advises, with jitter."""

from __future__ import annotations

import random

import pytest

from parley.sender.classification import Disposition, Retry, backoff_seconds, classify


@pytest.mark.parametrize("code", [130429, 131056, 131057, 4, 80007])
def test_throttling_codes_wait_and_never_fail(code: int) -> None:
    assert classify(code, 400) is Disposition.THROTTLED


@pytest.mark.parametrize("code", [131000, 2, 131016])
def test_service_errors_are_retried(code: int) -> None:
    assert classify(code, 500) is Disposition.TRANSIENT


@pytest.mark.parametrize("code", [131026, 131047, 131048, 131049, 368, 132000, 132001, 100])
def test_permanent_codes_fail_the_message(code: int) -> None:
    assert classify(code, 400) is Disposition.PERMANENT


def test_an_expired_token_holds_the_channel() -> None:
    assert classify(190, 401) is Disposition.NEEDS_TOKEN
    assert classify(None, 401) is Disposition.NEEDS_TOKEN


def test_without_a_meta_code_the_http_status_decides() -> None:
    assert classify(None, 502) is Disposition.TRANSIENT
    assert classify(None, 429) is Disposition.TRANSIENT
    assert classify(None, 404) is Disposition.PERMANENT
    assert classify(999999, 400) is Disposition.PERMANENT


def test_backoff_doubles_up_to_the_cap_with_jitter_in_the_upper_half() -> None:
    retry = Retry(base_seconds=1.0, max_seconds=10.0)
    rng = random.Random(7)
    for attempt, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 10.0), (30, 10.0)]:
        delays = [backoff_seconds(130429, attempt, retry, rng) for _ in range(200)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert max(delays) - min(delays) > ceiling / 10, "jitter spreads retries out"


def test_pair_rate_waits_four_to_the_n_seconds() -> None:
    retry = Retry(pair_base_seconds=4.0, pair_max_seconds=900.0)
    rng = random.Random(3)
    for attempt, ceiling in [(1, 4.0), (2, 16.0), (3, 64.0), (4, 256.0), (5, 900.0)]:
        delay = backoff_seconds(131056, attempt, retry, rng)
        assert ceiling / 2 <= delay <= ceiling
