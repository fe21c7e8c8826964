"""Webhook POST at ingest → its webhook.received on Kafka, beside a bare Kafka produce→consume hop, same run.

    .tools/bin/uv run python bench/ingest_intake_latency.py [--rate 200] [--seconds 10]

Starts embedded Postgres/Valkey/Tansu and ingest alone (API, outbox relay and normalizer in one
process, as deployed), posts signed inbound text webhooks at ``--rate`` per second and records, for
each, when the POST went out and the Kafka timestamp of its webhook.received (set when the relay
produced it). The hop covers the intake's group commit, the relay waking (NOTIFY, else its poll) and
the produce. The baseline is a bare aiokafka produce→consume hop on the same broker at the same rate.
The first hop of bench/realtime_latency.py measures the same thing inside the whole platform.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.realtime_latency import Timeline, bare_kafka_hop, line, load, pct, watch_topics  # noqa: E402
from bench.scratch import scratch_platform  # noqa: E402
from parley.devstack.stack import Platform  # noqa: E402


async def run(platform: Platform, args: argparse.Namespace) -> None:
    bootstrap = platform.infra.kafka_bootstrap
    bare = await bare_kafka_hop(bootstrap, args.rate, int(args.rate * 3))
    timeline, ready = Timeline(), asyncio.Event()
    watcher = asyncio.create_task(watch_topics(bootstrap, timeline, ready))
    await ready.wait()
    warm = argparse.Namespace(**{**vars(args), "rate": 20, "seconds": 1})
    await load(platform, warm, Timeline(), first=10**7)  # connections, statements and the relay warmed up
    await load(platform, args, timeline)
    arrived = timeline.kafka["webhook.received"]
    for _ in range(300):  # every webhook seen, or a minute passes
        if all(i in arrived for i in timeline.posted):
            break
        await asyncio.sleep(0.2)
    watcher.cancel()
    hop = [(arrived[i] - posted) * 1000 for i, posted in timeline.posted.items() if i in arrived]
    print(f"\n{len(hop)}/{len(timeline.posted)} webhooks seen on webhook.received")
    print(line("POST → webhook.received on Kafka", hop))
    print(line("baseline: bare Kafka produce→consume hop", bare))
    print(f"ratio hop / bare: p50 {pct(hop, 50) / pct(bare, 50):.1f}x, p99 {pct(hop, 99) / pct(bare, 99):.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--customers", type=int, default=2000, help="distinct senders")
    args = parser.parse_args()
    platform = scratch_platform()
    try:
        platform.infra.start()
        platform.prepare()
        platform.start_services(only=["ingest"])
        platform.wait_ready(only=["ingest"], timeout=180)
        asyncio.run(run(platform, args))
    finally:
        platform.stop()
        shutil.rmtree(platform.state_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
