"""The ingest normalizer's drain rate and CPU per webhook: batch handler vs. the per-event handler, same run.

    .tools/bin/uv run python bench/ingest_normalizer.py [--webhooks 5000] [--batch 500]

Starts embedded Postgres (and the rest of the embedded infra), migrates ingest, routes one number,
stores ``--webhooks`` signed-shape text webhooks per variant (as the intake would), then hands their
``webhook.received`` records to the ``ingest.normalizer`` runner in fetches of ``--batch`` records
(what the consumer loop does after Kafka), from the first fetch to the last. Variants:

- baseline: the per-event ``handler`` shape the normalizer had before (``process_webhook`` per event,
  inside the kit's one transaction per fetch);
- the ``batch_handler`` the service runs now (``process_webhooks`` per fetch).

Prints webhooks/s (wall) and this process's CPU µs per webhook (``time.process_time``: the Python side,
which is what limits the consumer; Postgres runs in its own processes). The Kafka fetch and the relay's
publishing of message.received are not included (bench/ingest_throughput.py --shape split has them).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiokafka import ConsumerRecord  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncSession  # noqa: E402

from bench.scratch import scratch_platform  # noqa: E402
from parley.contracts import Envelope, new_event_id  # noqa: E402
from parley.contracts.binding import to_record  # noqa: E402
from parley.contracts.events.webhooks import WebhookReceived  # noqa: E402
from parley.devstack.catalog import SERVICES  # noqa: E402
from parley.ingest import service, subscribers  # noqa: E402
from parley.ingest.main import build  # noqa: E402
from parley.ingest.models import ChannelRoute, WebhookRecord  # noqa: E402
from parley.ingest.settings import IngestSettings  # noqa: E402
from parley.kit.consumer import ConsumerRunner, Subscription  # noqa: E402
from parley.kit.service import Service  # noqa: E402
from tests.support import meta  # noqa: E402

NUMBER, TENANT = "106540352242922", uuid.uuid4()


async def store_webhooks(ingest: Service, count: int, label: str) -> list[uuid.UUID]:
    """``count`` distinct inbound text webhooks (~1 KB each, like bench/ingest_throughput.py), raw rows only."""
    ids, rows = [], []
    for index in range(count):
        sender = f"5511{index % 10**9:09d}"
        body = meta.encode(meta.notification(NUMBER, messages=[meta.inbound(
            "text", {"body": f"{label} message {index} " + "x" * 700}, sender=sender)],
            contacts=[{"profile": {"name": "Bench Customer"}, "wa_id": sender}]))
        webhook_id = new_event_id()
        ids.append(webhook_id)
        rows.append({"id": webhook_id, "kind": "whatsapp", "body": body, "headers": {}, "content_sha256": "0" * 64,
                     "size_bytes": len(body), "status": "received"})
    async with ingest.db.unit_of_work() as session:
        for chunk in range(0, count, 1000):
            await session.execute(WebhookRecord.__table__.insert(), rows[chunk:chunk + 1000])
    return ids


def records(webhook_ids: list[uuid.UUID]) -> list[ConsumerRecord]:
    built = []
    for offset, webhook_id in enumerate(webhook_ids):
        envelope = Envelope.wrap(WebhookReceived(webhook_id=webhook_id, kind="whatsapp", received_at=datetime.now(UTC),
                                                 content_sha256="0" * 64, size_bytes=1, phone_number_ids=[NUMBER]),
                                 source="/parley/ingest", tenant_id=None, subject=f"webhook/{webhook_id}")
        key, value, headers = to_record(envelope)
        built.append(ConsumerRecord("webhook.received", 0, offset, 0, 0, key, value, None, len(key), len(value),
                                    list(headers)))
    return built


async def drain(ingest: Service, subscription: Subscription, webhook_ids: list[uuid.UUID],
                batch: int) -> tuple[float, float]:
    """(webhooks/s, CPU seconds per webhook) to normalize every webhook, fetch by fetch."""
    runner = ConsumerRunner(ingest.db, ingest.store.tables, None, subscription)  # type: ignore[arg-type]
    fetches = records(webhook_ids)  # built before the clock starts: Kafka hands them over ready
    cpu, wall = time.process_time(), time.perf_counter()
    for start in range(0, len(fetches), batch):
        await runner.handle_batch(fetches[start:start + batch])
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return len(webhook_ids) / wall, cpu / len(webhook_ids)


async def bench(database_url: str, count: int, batch: int) -> None:
    ingest = build(IngestSettings(database_url=database_url))
    await ingest.migrate()
    async with ingest.db.unit_of_work() as session:
        session.add(ChannelRoute(phone_number_id=NUMBER, tenant_id=TENANT, waba_id="102290129340398",
                                 display_phone_number="15550100001", active=True, updated_at=datetime.now(UTC)))
    store = ingest.store

    async def per_event(session: AsyncSession, envelope: Envelope) -> None:
        await service.process_webhook(session, store, uuid.UUID(str(envelope.data["webhook_id"])))

    baseline = Subscription("bench.per-event", ("webhook.received",), per_event)
    [current] = [s for s in subscribers.subscriptions(store, None) if s.consumer == "ingest.normalizer"]
    try:
        await drain(ingest, current, await store_webhooks(ingest, min(count, 500), "warm-up"), batch)
        old_rate, old_cpu = await drain(ingest, baseline, await store_webhooks(ingest, count, "baseline"), batch)
        print(f"baseline, per-event handler : {old_rate:8,.0f} webhooks/s   CPU {old_cpu * 1e6:6.0f} us/webhook",
              flush=True)
        new_rate, new_cpu = await drain(ingest, current, await store_webhooks(ingest, count, "batch"), batch)
        print(f"batch_handler (as deployed) : {new_rate:8,.0f} webhooks/s   CPU {new_cpu * 1e6:6.0f} us/webhook")
        print(f"ratio batch / per-event     : {new_rate / old_rate:.2f}x rate, "
              f"{new_cpu / old_cpu:.2f}x CPU per webhook "
              f"(fetches of {batch}, {count:,} webhooks each)")
    finally:
        await ingest.db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--webhooks", type=int, default=5000)
    parser.add_argument("--batch", type=int, default=500, help="records per fetch (INGEST_CONSUMER_BATCH_SIZE)")
    args = parser.parse_args()
    platform = scratch_platform()
    try:
        platform.infra.start()
        platform.prepare()
        spec = next(s for s in SERVICES if s.name == "ingest")
        asyncio.run(bench(platform.database_url(spec), args.webhooks, args.batch))
    finally:
        platform.stop()
        shutil.rmtree(platform.state_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
