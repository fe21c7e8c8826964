"""Background send loops and the in-doubt sweeper (never inside a Kafka consumer's transaction)."""

from __future__ import annotations

import asyncio
import time
from contextlib import suppress
from datetime import UTC, datetime
from uuid import UUID

from prometheus_client import Gauge
from sqlalchemy import func, select

from parley.kit.crypto import TenantCipher
from parley.kit.db import Database
from parley.kit.eventstore import EventStore
from parley.kit.faults import crash_point
from parley.kit.loops import run_forever
from parley.kit.telemetry import get_logger
from parley.sender import health, outbound
from parley.sender.admission import Admission, claim_due
from parley.sender.classification import Disposition, classify
from parley.sender.graph import Accepted, GraphClient, Rejected, SendOutcome
from parley.sender.models import Channel
from parley.sender.outbound import Claimed
from parley.sender.settings import SenderSettings

log = get_logger(__name__)


CHANNELS = Gauge("parley_sender_channels", "Channels (business numbers) by status", ["status"])
CHANNEL_STATUSES = {"active", "needs_token"}


def _count(tally: health.Tally, outcome: SendOutcome, state: str) -> None:
    """A send's outcome for the number's health: accepted, or failed / retried for a reason of Meta's."""
    if isinstance(outcome, Accepted) and state == "accepted":
        tally.success(accepted=1)
    elif isinstance(outcome, Rejected) and classify(outcome.code, outcome.http_status) in (
            Disposition.PERMANENT, Disposition.TRANSIENT):
        tally.failure(outcome.code or outcome.http_status, final=state == "failed")


def claimed_tenant(claimed: list[Claimed], phone_number_id: str) -> UUID:
    return next(c.tenant_id for c in claimed if c.phone_number_id == phone_number_id)


class Wakeup:
    """Ends the pause of idle send loops: requests were queued in this process, or a held message falls due.

    Requests queued by other replicas, retries after a backoff and resends after a doubt are found by the
    loops' polling (``idle_seconds``); a number's own pacing is followed to the moment (``hold_until``).
    """

    def __init__(self) -> None:
        self.event = asyncio.Event()
        self._next_due: float | None = None

    def set(self) -> None:
        self.event.set()

    def hold_until(self, moment: float) -> None:
        """A claim put a message back until ``moment`` (monotonic): wake the loops then, not later."""
        if self._next_due is None or moment < self._next_due or self._next_due <= time.monotonic():
            self._next_due = moment

    async def pause(self, idle_seconds: float) -> None:
        timeout = idle_seconds
        if self._next_due is not None:
            timeout = min(timeout, max(0.0, self._next_due - time.monotonic()))
        with suppress(TimeoutError):
            await asyncio.wait_for(self.event.wait(), timeout)


class Sender:
    """Claims due messages, calls the Graph API outside any transaction, records each outcome."""

    def __init__(self, db: Database, store: EventStore, cipher: TenantCipher, graph: GraphClient,
                 settings: SenderSettings, admission: Admission, wakeup: Wakeup | None = None) -> None:
        self.db = db
        self.wakeup = wakeup or Wakeup()
        self.admission = admission
        self.store = store
        self.cipher = cipher
        self.graph = graph
        self.settings = settings
        self.policy = outbound.Policy(
            retry=outbound.Retry(base_seconds=settings.retry_base_seconds, max_seconds=settings.retry_max_seconds,
                                 pair_base_seconds=settings.pair_backoff_base_seconds),
            max_transient_attempts=settings.max_transient_attempts)
        self._max_in_flight = settings.workers * settings.claim_batch  # as many as the HTTP pools have connections
        self._in_flight = 0
        self._capacity = asyncio.Condition()
        self._rounds: set[asyncio.Task[None]] = set()

    async def send_due(self) -> int:
        """One round: claim (committed), send concurrently, record outcomes; returns how many were sent."""
        claimed = await self._claim(self.settings.claim_batch)
        if claimed:
            await self._send_and_record(claimed)
        return len(claimed)

    async def dispatch_due(self) -> int:
        """Claim and start sending, without waiting for the sends: the loop claims the next messages while these
        wait for their slots and their answers (at most ``workers * claim_batch`` in flight per process)."""
        async with self._capacity:
            await self._capacity.wait_for(lambda: self._in_flight < self._max_in_flight)
            room = min(self.settings.claim_batch, self._max_in_flight - self._in_flight)
            self._in_flight += room  # reserved before the claim: the other loops see it
        claimed: list[Claimed] = []
        try:
            claimed = await self._claim(room)
        finally:
            await self._release(room - len(claimed))
        if claimed:
            task = asyncio.create_task(self._complete(claimed), name="sender round")
            self._rounds.add(task)
            task.add_done_callback(self._rounds.discard)
        return len(claimed)

    async def _complete(self, claimed: list[Claimed]) -> None:
        try:
            await self._send_and_record(claimed)
        except Exception as exc:  # noqa: BLE001 - the sends stay "sending" and become in doubt: the sweeper decides
            log.warning("recording a send round failed", error=f"{type(exc).__name__}: {exc}", sends=len(claimed))
        finally:
            await self._release(len(claimed))

    async def _release(self, count: int) -> None:
        if count:
            async with self._capacity:
                self._in_flight -= count
                self._capacity.notify_all()

    async def _claim(self, limit: int) -> list[Claimed]:
        # The workers serve every tenant: claiming, recording outcomes and health run in system scope.
        self.wakeup.event.clear()  # what is queued from here on wakes the loops again
        async with self.db.unit_of_work(system=True) as session:
            claimed, next_hold = await claim_due(session, self.store, self.cipher, limit, self.admission)
        if next_hold is not None:
            self.wakeup.hold_until(time.monotonic() + max(0.0, (next_hold - datetime.now(UTC)).total_seconds()))
        return claimed

    async def _send_and_record(self, claimed: list[Claimed]) -> None:
        crash_point("sender.after_claim")
        outcomes = await asyncio.gather(*(self._send_in_slot(c) for c in claimed))
        crash_point("sender.after_send")
        tallies: dict[str, health.Tally] = {}
        async with self.db.unit_of_work(system=True) as session:
            states = await outbound.apply_outcomes(session, self.store, [(c.id, o) for c, o in zip(
                claimed, outcomes, strict=True)], self.policy)
        for message, outcome in zip(claimed, outcomes, strict=True):
            _count(tallies.setdefault(message.phone_number_id, health.Tally()), outcome, states[message.id])
        # Health in its own transaction: a problem there must never undo the record of what was sent.
        async with self.db.unit_of_work(system=True) as session:
            for phone_number_id in sorted(tallies):  # one lock order for every replica
                tally = tallies[phone_number_id]
                if tally.outcomes or tally.accepted or tally.failed:
                    await health.record(session, self.store, self.admission.health, phone_number_id,
                                        claimed_tenant(claimed, phone_number_id), tally)

    async def _send_in_slot(self, claimed: Claimed) -> SendOutcome:
        if claimed.delay_seconds > 0:
            await asyncio.sleep(claimed.delay_seconds)
        return await self.graph.send(claimed.phone_number_id, claimed.access_token, claimed.body)

    async def sweep(self) -> tuple[int, int]:
        """Sends no process can still answer become in doubt; in-doubt sends past the grace go again."""
        async with self.db.unit_of_work(system=True) as session:
            # A live call ends within the Graph timeout; older ``sending`` rows belong to a dead process.
            doubted = await outbound.mark_in_doubt(session, self.settings.graph_timeout_seconds + 5)
            resent = await outbound.resend_unconfirmed(session, self.settings.in_doubt_grace_seconds)
        if doubted or resent:
            log.info("in-doubt sends", marked_in_doubt=doubted, queued_again=resent)
        return doubted, resent

    async def run_send_loops(self, idle_seconds: float | None = None) -> None:
        """The send loops, until cancelled; then the rounds in flight finish (their messages are claimed)."""
        idle = self.settings.idle_seconds if idle_seconds is None else idle_seconds
        try:
            await asyncio.gather(*(run_forever(f"send loop {i}", self.dispatch_due, idle, idle=self.wakeup.pause)
                                   for i in range(self.settings.workers)))
        finally:
            if self._rounds:
                await asyncio.wait(set(self._rounds), timeout=self.settings.graph_timeout_seconds + 5)

    async def refresh_channel_gauges(self) -> None:
        """Channels per status for alerting (``needs_token`` after Meta error 190), from the shared database."""
        async with self.db.unit_of_work(system=True) as session:
            rows = (await session.execute(select(Channel.status, func.count()).group_by(Channel.status))).all()
        counts = dict(rows)
        for status in sorted(CHANNEL_STATUSES | set(counts)):
            CHANNELS.labels(status).set(counts.get(status, 0))

    async def run_channel_gauges(self) -> None:
        async def refresh() -> int:
            await self.refresh_channel_gauges()
            return 0

        await run_forever("channel gauges", refresh, self.settings.gauges_interval_seconds)

    async def run_sweeper(self) -> None:
        async def sweep() -> int:
            await self.sweep()
            return 0

        await run_forever("in-doubt sweeper", sweep, self.settings.sweep_interval_seconds)
