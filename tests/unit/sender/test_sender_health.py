"""Which failures count against a number, and how a slow-down changes its rate (pure logic)."""

from datetime import UTC, datetime, timedelta

from parley.sender.health import HealthPolicy, Tally, effective_rate, is_healthy
from parley.sender.models import ChannelHealth


def test_recipient_and_content_errors_are_counted_but_not_held_against_the_number():
    tally = Tally()
    for code in (131026, 131047, 132001):
        tally.failure(code)
    assert tally.failed == 3 and tally.outcomes == []
    tally.failure(131000)
    tally.failure(130429, final=False)
    assert tally.failed == 4 and tally.outcomes == [False, False]


def test_the_spam_rate_limit_marks_the_tally_for_a_slow_down():
    tally = Tally()
    tally.failure(131048)
    assert tally.spam_limited and tally.outcomes == [False]


def test_a_number_is_healthy_until_its_score_or_its_failure_streak_says_otherwise():
    assert is_healthy(None, None)
    assert is_healthy(50.0, 4)
    assert not is_healthy(49.9, 0)
    assert not is_healthy(90.0, 5)


def test_a_slowed_number_sends_at_the_slow_factor_until_the_slow_down_ends():
    now = datetime.now(UTC)
    policy = HealthPolicy(slow_factor=0.25)
    slowed = ChannelHealth(slowed_until=now + timedelta(minutes=1))
    assert effective_rate(80, slowed, policy, now) == 20
    assert effective_rate(80, ChannelHealth(slowed_until=now - timedelta(seconds=1)), policy, now) == 80
    assert effective_rate(80, None, policy, now) == 80
