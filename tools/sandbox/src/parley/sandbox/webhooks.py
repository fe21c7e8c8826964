"""Delivery of notifications to the business's webhook, the way Meta does it.

Events (statuses, inbound messages) are scheduled for a moment; a due status waits up to
``webhook_batch_window_ms`` for others, and the statuses of one number waiting together go out in one
POST (up to ``webhook_max_batch``); each inbound message goes in its own, when due. Anything but
HTTP 200 is retried with exponential backoff, the same bytes
every time, until the retry horizon: then the batch is counted undelivered, never dropped
silently. Chaos adds duplicates, hold-backs (reordering) and random delays.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import json
import logging
import random
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

from parley.sandbox.notifications import encode, notification, sign
from parley.sandbox.settings import ChaosSettings, SandboxSettings
from parley.sandbox.store import Clock

log = logging.getLogger("parley.sandbox.webhooks")


@dataclass(frozen=True)
class Sender:
    """The business number an event belongs to (the notification's ``entry.id`` and ``metadata``)."""

    waba_id: str
    phone_number_id: str
    display_phone_number: str


@dataclass(frozen=True)
class WebhookEvent:
    kind: Literal["status", "message"]
    sender: Sender
    item: dict[str, Any]
    contacts: tuple[dict[str, Any], ...] = ()


@dataclass
class Delivery:
    """One webhook POST and its attempts."""

    id: int
    phone_number_id: str
    kind: str
    events: int
    body: bytes
    created_at: float
    next_attempt_at: float
    attempts: int = 0
    state: Literal["pending", "delivered", "undelivered"] = "pending"
    last_status: int | None = None
    last_error: str | None = None
    history: list[dict[str, Any]] = field(default_factory=list)

    def describe(self, *, payload: bool) -> dict[str, Any]:
        described = {"id": self.id, "phone_number_id": self.phone_number_id, "kind": self.kind,
                     "events": self.events, "state": self.state, "attempts": self.attempts,
                     "last_status": self.last_status, "last_error": self.last_error, "history": self.history}
        if payload:
            described["payload"] = json.loads(self.body)
        return described


class WebhookOutbox:
    def __init__(self, settings: SandboxSettings, clock: Clock, *, client: httpx.AsyncClient | None = None) -> None:
        self.settings = settings
        self.clock = clock
        self.url = settings.webhook_url
        self.app_secret = settings.app_secret.get_secret_value()
        self.chaos = settings.chaos
        self._client = client
        self._wake = asyncio.Event()
        self._ids = itertools.count(1)
        self.clear()

    def clear(self) -> None:
        self._rng = random.Random(self.chaos.seed)
        self._events: list[tuple[float, int, WebhookEvent]] = []
        self._retries: list[tuple[float, int]] = []
        self._staged: list[WebhookEvent] = []  # due statuses waiting for others to share their POST
        self._staged_since = 0.0
        self.deliveries: dict[int, Delivery] = {}
        self._recent: deque[int] = deque(maxlen=5000)
        self.counters: Counter[str] = Counter()

    def configure(self, *, url: str | None, app_secret: str | None = None,
                  chaos: ChaosSettings | None = None) -> None:
        self.url = url
        if app_secret is not None:
            self.app_secret = app_secret
        if chaos is not None:
            self.chaos = chaos
            self._rng = random.Random(chaos.seed)
        self._wake.set()

    # --- scheduling ---------------------------------------------------------------------------------

    def enqueue(self, event: WebhookEvent, delay_seconds: float = 0.0) -> None:
        """Schedule an event, applying the chaos settings."""
        self.counters["events_enqueued"] += 1
        self._push(event, delay_seconds + self._chaos_delay())
        if self._rng.random() < self.chaos.duplicate_probability:
            self.counters["chaos_duplicates"] += 1
            self._push(event, delay_seconds + self._chaos_delay() + self._rng.uniform(0.05, 0.5))
        self._wake.set()

    def _chaos_delay(self) -> float:
        delay = self._rng.uniform(0, self.chaos.delay_ms / 1000) if self.chaos.delay_ms else 0.0
        if self._rng.random() < self.chaos.reorder_probability:
            self.counters["chaos_held_back"] += 1
            delay += self._rng.uniform(0, self.chaos.reorder_window_ms / 1000)
        return delay

    def _push(self, event: WebhookEvent, delay: float) -> None:
        heapq.heappush(self._events, (self.clock.monotonic() + delay, next(self._ids), event))

    def _take_due(self, now: float) -> list[WebhookEvent]:
        """Customers' messages as they fall due; statuses once the oldest due one has waited the batch window
        (or a full batch is waiting), so that, as at Meta, a busy number's statuses share their POSTs."""
        due = []
        while self._events and self._events[0][0] <= now:
            moment, _, event = heapq.heappop(self._events)
            if event.kind == "status":
                if not self._staged:
                    self._staged_since = moment
                self._staged.append(event)
            else:
                due.append(event)
        window = self.settings.webhook_batch_window_ms / 1000
        full = len(self._staged) >= self.settings.webhook_max_batch
        if self._staged and (full or now - self._staged_since >= window):
            due += self._staged
            self._staged = []
        return due

    def _batch(self, events: list[WebhookEvent]) -> list[Delivery]:
        deliveries, statuses = [], {}
        for event in events:
            if event.kind == "message":
                value = {"contacts": list(event.contacts), "messages": [event.item]}
                deliveries.append(self._delivery(event.sender, "message", [event.item], value))
            else:
                statuses.setdefault(event.sender, []).append(event.item)
        for sender, items in statuses.items():
            if self.chaos.reorder_probability and self._rng.random() < self.chaos.reorder_probability:
                self._rng.shuffle(items)
            for start in range(0, len(items), self.settings.webhook_max_batch):
                chunk = items[start:start + self.settings.webhook_max_batch]
                deliveries.append(self._delivery(sender, "status", chunk, {"statuses": chunk}))
        return deliveries

    def _delivery(self, sender: Sender, kind: str, items: list[dict[str, Any]], value: dict[str, Any]) -> Delivery:
        body = encode(notification(sender.waba_id, sender.phone_number_id, sender.display_phone_number, value))
        now = self.clock.monotonic()
        delivery = Delivery(next(self._ids), sender.phone_number_id, kind, len(items), body, now, now)
        self.deliveries[delivery.id] = delivery
        if len(self._recent) == self._recent.maxlen:
            evicted = self.deliveries.get(self._recent[0])
            if evicted is not None and evicted.state == "delivered":
                del self.deliveries[evicted.id]
        self._recent.append(delivery.id)
        return delivery

    # --- delivery -----------------------------------------------------------------------------------

    async def run(self) -> None:
        """Deliver due events and retries until cancelled."""
        client = self._client or httpx.AsyncClient(timeout=self.settings.webhook_timeout_seconds)
        limit = asyncio.Semaphore(self.settings.webhook_concurrency)
        running: set[asyncio.Task[None]] = set()
        try:
            while True:
                now = self.clock.monotonic()
                ready = self._batch(self._take_due(now))
                while self._retries and self._retries[0][0] <= now:
                    delivery = self.deliveries.get(heapq.heappop(self._retries)[1])
                    if delivery is not None and delivery.state == "pending":
                        ready.append(delivery)
                for delivery in ready:
                    task = asyncio.create_task(self._attempt(client, limit, delivery))
                    running.add(task)
                    task.add_done_callback(running.discard)
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=self._sleep_seconds())
                except TimeoutError:
                    pass
        finally:
            for task in running:
                task.cancel()
            if self._client is None:
                await client.aclose()

    def _sleep_seconds(self) -> float:
        moments = [heap[0][0] for heap in (self._events, self._retries) if heap]
        if self._staged:
            moments.append(self._staged_since + self.settings.webhook_batch_window_ms / 1000)
        if not moments:
            return 1.0
        return min(1.0, max(0.0, min(moments) - self.clock.monotonic()))

    async def _attempt(self, client: httpx.AsyncClient, limit: asyncio.Semaphore, delivery: Delivery) -> None:
        async with limit:
            delivery.attempts += 1
            self.counters["attempts"] += 1
            status, error = await self._post(client, delivery.body)
        if self.deliveries.get(delivery.id) is not delivery:
            return  # the sandbox was reset meanwhile
        delivery.last_status, delivery.last_error = status, error
        delivery.history.append({"attempt": delivery.attempts, "at": self.clock.time(), "status": status,
                                 "error": error})
        if status == 200:
            delivery.state = "delivered"
            self.counters["deliveries"] += 1
            self.counters["events_delivered"] += delivery.events
            return
        self.counters["failed_attempts"] += 1
        interval = min(self.settings.webhook_retry_initial_seconds * 2 ** (delivery.attempts - 1),
                       self.settings.webhook_retry_max_seconds)
        next_attempt = self.clock.monotonic() + interval
        if next_attempt - delivery.created_at > self.settings.webhook_retry_horizon_seconds:
            delivery.state = "undelivered"
            self.counters["undelivered_batches"] += 1
            self.counters["undelivered_events"] += delivery.events
            log.warning("webhook batch %s undelivered after %s attempts: %s", delivery.id, delivery.attempts,
                        error or status)
            return
        delivery.next_attempt_at = next_attempt
        heapq.heappush(self._retries, (next_attempt, delivery.id))
        self._wake.set()

    async def _post(self, client: httpx.AsyncClient, body: bytes) -> tuple[int | None, str | None]:
        if not self.url:
            return None, "no webhook URL configured"
        headers = {"Content-Type": "application/json", "User-Agent": "facebookexternalua",
                   "X-Hub-Signature-256": sign(body, self.app_secret)}
        try:
            response = await client.post(self.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return None, f"{type(exc).__name__}: {exc}"
        return response.status_code, None if response.status_code == 200 else response.text[:300]

    # --- introspection ------------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        pending = [d for d in self.deliveries.values() if d.state == "pending"]
        return {
            "url": self.url,
            "events_enqueued": self.counters["events_enqueued"],
            "events_scheduled": len(self._events),
            "events_delivered": self.counters["events_delivered"],
            "posts_delivered": self.counters["deliveries"],
            "attempts": self.counters["attempts"],
            "failed_attempts": self.counters["failed_attempts"],
            "pending_batches": len(pending),
            "pending_events": sum(d.events for d in pending) + len(self._events) + len(self._staged),
            "undelivered_batches": self.counters["undelivered_batches"],
            "undelivered_events": self.counters["undelivered_events"],
            "chaos": {**self.chaos.model_dump(), "duplicates_injected": self.counters["chaos_duplicates"],
                      "events_held_back": self.counters["chaos_held_back"]},
        }

    def recent(self, *, state: str | None = None, payloads: bool = False) -> list[dict[str, Any]]:
        """The latest deliveries; with ``state``, every delivery still held in that state."""
        if state is not None:
            chosen = [d for d in self.deliveries.values() if d.state == state]
        else:
            chosen = [self.deliveries[i] for i in self._recent if i in self.deliveries]
        return [d.describe(payload=payloads) for d in chosen]
