"""Per-number health: statistics and a 0-100 score from send outcomes and Meta's statuses.

A number's own failures (service errors, spam limits, policy blocks...) lower its score and count
as consecutive failures; a recipient's problem (not on WhatsApp, closed window, bad template) is
counted as a failure in the statistics but says nothing about the number. After
``pause_after`` consecutive failures the number is paused (``channel.updated`` paused=true) until a
manager resumes it; 131048 (spam rate limit) slows the number down for a while. Crossing the
healthy threshold either way is published too, so pools elsewhere can see it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from uuid import UUID

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from parley.contracts.events.channels import ChannelUpdated
from parley.contracts.events.messages import MessageStatus
from parley.kit.eventstore import EventStore
from parley.kit.telemetry import get_logger
from parley.sender import service as channels
from parley.sender.models import Channel, ChannelHealth, OutboundMessage

log = get_logger(__name__)

HEALTHY_SCORE = 50.0
UNHEALTHY_STREAK = 5
SCORE_WEIGHT = 0.1  # each outcome moves the score 10% of the way to 100 (success) or 0 (failure)
SPAM_RATE_LIMIT = 131048
#: Failures that are the recipient's or the content's, not the number's.
NOT_THE_NUMBERS_FAULT = frozenset({131026, 131047, 131049, 132000, 132001, 100})


def is_healthy(score: float | None, consecutive_failures: int | None) -> bool:
    """Pools prefer numbers with a score of at least 50 and fewer than 5 failures in a row (no row: healthy)."""
    return (score is None or score >= HEALTHY_SCORE) and (consecutive_failures or 0) < UNHEALTHY_STREAK


@dataclass(frozen=True)
class HealthPolicy:
    pause_after: int = 10
    slow_factor: float = 0.5
    slow_seconds: float = 600.0


@dataclass
class Tally:
    """What happened to one number's sends, in order: True = success, False = its own failure."""

    outcomes: list[bool] = field(default_factory=list)
    accepted: int = 0
    failed: int = 0
    delivered: int = 0
    read: int = 0
    last_error_code: int | None = None
    spam_limited: bool = False

    def success(self, *, accepted: int = 0, delivered: int = 0, read: int = 0) -> None:
        self.accepted, self.delivered, self.read = self.accepted + accepted, self.delivered + delivered, \
            self.read + read
        if accepted or delivered:
            self.outcomes.append(True)

    def failure(self, code: int | None, *, final: bool = True) -> None:
        """A failed send (``final``) or a failed attempt that will be retried (health only)."""
        self.failed += 1 if final else 0
        self.last_error_code = code
        if code not in NOT_THE_NUMBERS_FAULT:
            self.outcomes.append(False)
        if code == SPAM_RATE_LIMIT:
            self.spam_limited = True


async def record(session: AsyncSession, store: EventStore, policy: HealthPolicy, phone_number_id: str,
                 tenant_id: UUID, tally: Tally) -> None:
    """Fold a tally into the number's health (row-locked: replicas serialise per number); pause or slow it."""
    now = datetime.now(UTC)
    await session.execute(insert(ChannelHealth).values(phone_number_id=phone_number_id, tenant_id=tenant_id,
                                                       updated_at=now).on_conflict_do_nothing())
    health = (await session.execute(select(ChannelHealth).where(ChannelHealth.phone_number_id == phone_number_id)
                                    .with_for_update().execution_options(populate_existing=True))).scalar_one()
    was_healthy = is_healthy(health.health_score, health.consecutive_failures)
    longest_streak = health.consecutive_failures
    for success in tally.outcomes:
        health.health_score += SCORE_WEIGHT * ((100.0 if success else 0.0) - health.health_score)
        health.consecutive_failures = 0 if success else health.consecutive_failures + 1
        longest_streak = max(longest_streak, health.consecutive_failures)
    health.accepted += tally.accepted
    health.failed += tally.failed
    health.delivered += tally.delivered
    health.read += tally.read
    health.updated_at = now
    if tally.last_error_code is not None:
        health.last_error_code, health.last_failure_at = tally.last_error_code, now
    if tally.spam_limited:
        health.slowed_until = now + timedelta(seconds=policy.slow_seconds)
        health.slowed_reason = f"Meta's spam rate limit (131048): sending at {policy.slow_factor:g}x until then"
    await session.flush()
    healthy = is_healthy(health.health_score, health.consecutive_failures)
    if longest_streak >= policy.pause_after:  # a success later in the same tally does not undo the streak
        await pause(session, store, phone_number_id, health.health_score,
                    f"paused after {longest_streak} failed sends in a row "
                    f"(last Meta code {health.last_error_code})")
    elif healthy != was_healthy:
        await _publish(session, store, phone_number_id, ChannelUpdated(
            phone_number_id=phone_number_id, health_score=round(health.health_score, 1),
            reason="healthy again" if healthy else "unhealthy: pools send from other numbers"))


async def pause(session: AsyncSession, store: EventStore, phone_number_id: str, health_score: float | None,
                reason: str) -> bool:
    """Stop the number's sends (its messages wait); False when it was already paused."""
    channel = await session.get(Channel, phone_number_id, with_for_update=True, populate_existing=True)
    if channel is None or channel.paused:
        return False
    log.warning("number paused", phone_number_id=phone_number_id, reason=reason)
    await _publish(session, store, phone_number_id, ChannelUpdated(
        phone_number_id=phone_number_id, paused=True, reason=reason,
        health_score=None if health_score is None else round(health_score, 1)))
    return True


async def resume(session: AsyncSession, store: EventStore, phone_number_id: str) -> None:
    """Send again from a paused number; its failure streak starts over."""
    health = await session.get(ChannelHealth, phone_number_id, with_for_update=True)
    if health is not None:
        health.consecutive_failures = 0
        health.health_score = max(health.health_score, HEALTHY_SCORE)
    await _publish(session, store, phone_number_id, ChannelUpdated(
        phone_number_id=phone_number_id, paused=False, reason="resumed by a manager",
        health_score=None if health is None else round(health.health_score, 1)))


async def _publish(session: AsyncSession, store: EventStore, phone_number_id: str, update: ChannelUpdated) -> None:
    # The channel row lock orders this number's events against the API's (token, throughput, pause).
    channel = await session.get(Channel, phone_number_id, with_for_update=True)
    if channel is None:
        return
    version = await store.version_of(session, "channel", phone_number_id)
    await store.record(session, update, aggregate_type="channel", aggregate_id=phone_number_id,
                       expected_version=version, tenant_id=channel.tenant_id)


def effective_rate(configured: float, health: ChannelHealth | None, policy: HealthPolicy, now: datetime) -> float:
    """The number's send rate now: its setting, slowed while a spam limit or quality drop lasts."""
    if health is not None and health.slowed_until is not None and health.slowed_until > now:
        return configured * policy.slow_factor
    return configured


async def apply_meta_statuses(session: AsyncSession, store: EventStore, policy: HealthPolicy,
                              statuses: list[MessageStatus], tenant_id: UUID) -> None:
    """Meta's delivery statuses feed each number's statistics and health (delivered: success; failed: failure).

    Every status also moves its number's watermark: the latest Meta time seen, which in-doubt resends wait
    for. A batch costs one channel query, then per number one watermark upsert and one tally, in order.
    """
    numbers = sorted({s.phone_number_id for s in statuses})
    owned = set((await session.execute(select(Channel.phone_number_id).where(
        Channel.phone_number_id.in_(numbers), Channel.tenant_id == tenant_id))).scalars())
    now = datetime.now(UTC)
    for phone_number_id in numbers:
        if phone_number_id not in owned:
            continue  # not one of this tenant's numbers here
        mine = [s for s in statuses if s.phone_number_id == phone_number_id]
        statement = insert(ChannelHealth).values(phone_number_id=phone_number_id, tenant_id=tenant_id, updated_at=now,
                                                 status_watermark=max(s.timestamp for s in mine))
        await session.execute(statement.on_conflict_do_update(
            index_elements=["phone_number_id"],
            set_={"status_watermark": func.greatest(ChannelHealth.status_watermark,
                                                    statement.excluded.status_watermark)}))
        tally = Tally()
        for status in mine:
            if status.status == "delivered":
                tally.success(delivered=1)
            elif status.status == "read":
                tally.success(read=1)
            elif status.status == "failed":
                tally.failure(status.errors[0].code if status.errors else None)
        if tally.outcomes or tally.delivered or tally.read or tally.failed:
            await record(session, store, policy, phone_number_id, tenant_id, tally)


async def statistics(session: AsyncSession, tenant_id: UUID, phone_number_id: str,
                     ) -> tuple[Channel, ChannelHealth | None, int]:
    """The tenant's number, its health row (None before its first outcome) and how many messages wait for it."""
    channel = await channels.get_channel(session, tenant_id, phone_number_id)
    health = await session.get(ChannelHealth, phone_number_id)
    queued = (await session.execute(select(func.count()).select_from(OutboundMessage).where(
        OutboundMessage.phone_number_id == phone_number_id, OutboundMessage.tenant_id == tenant_id,
        OutboundMessage.status == "queued"))).scalar_one()
    return channel, health, queued
