"""Webhook POST at ingest → frame on a connected WebSocket, beside a bare Kafka produce→consume hop.

    .tools/bin/uv run python bench/realtime_latency.py [--clients 500] [--tenants 50] [--rate 200] [--seconds 20]
                                                      [--relay-idle 0.05] [--fetch-wait 20]

Starts embedded Postgres/Valkey/Tansu and the real gateway, ingest, conversation and sender (channel
routing), seeds the demo tenant, connects ``--clients`` WebSocket clients spread over ``--tenants``
tenants (the demo tenant's share receives the traffic; the others are idle sockets on the same
gateway), then posts signed inbound text webhooks at ``--rate`` per second. For every message it
records when the POST went out, the Kafka timestamps of its webhook.received, message.received and
conversation.changed records, the time the gateway appended it to the tenant stream (the frame id)
and when each client got the frame, and prints p50/p99 per hop and end to end. The baseline is a
bare aiokafka produce→consume hop on the same broker at the same rate, measured in the same run, with the
fetch wait of the services' realtime-path consumers and their producer linger (aiokafka's defaults are
shown for reference). Messages are told apart by a marker in their wamid (bodies are sealed). CPU per
message of each service and the broker is printed too: unlike latencies it holds up on a busy machine.
Everything shares this machine's cores.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import re
import socket
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition  # noqa: E402
from aiokafka.admin import AIOKafkaAdminClient, NewTopic  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402
from websockets.asyncio.client import connect  # noqa: E402

from bench.loadgen import Connection, request_bytes  # noqa: E402
from parley.devstack.catalog import SERVICES  # noqa: E402
from parley.devstack.stack import Infra, InfraPorts, Platform  # noqa: E402
from parley.gateway.tokens import TokenIssuer  # noqa: E402
from parley.kit.settings import ServiceSettings  # noqa: E402
from tests.support import meta  # noqa: E402

RUNNING = ("gateway", "ingest", "conversation", "sender")
MARK = re.compile(rb"rtbench-(\d+)-")
DEFAULTS = ServiceSettings()
WARM_UP = 10**7  # indexes of the warm-up messages


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def line(name: str, values: list[float]) -> str:
    return f"{name:<44} p50 {pct(values, 50):7.1f} ms   p99 {pct(values, 99):7.1f} ms   (n={len(values)})"


async def bare_kafka_hop(bootstrap: str, rate: float, count: int, fetch_max_wait_ms: int = 500,
                         linger_ms: int = 5) -> list[float]:
    """Produce→consume latency of small records on a fresh topic (aiokafka's default fetch wait: 500 ms)."""
    topic = f"realtime-bench.bare.{uuid.uuid4().hex[:6]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    await admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=linger_ms)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                fetch_max_wait_ms=fetch_max_wait_ms)
    await producer.start()
    await consumer.start()
    partition = TopicPartition(topic, 0)
    await asyncio.sleep(1)  # the new topic's metadata reaches the broker's leader
    consumer.assign([partition])
    await consumer.seek_to_end(partition)
    latencies: list[float] = []

    async def consume() -> None:
        while len(latencies) < count:
            for records in (await consumer.getmany(timeout_ms=1000)).values():
                now = time.time()
                latencies.extend((now - float(r.value.decode())) * 1000 for r in records)

    reading = asyncio.create_task(consume())
    start = time.perf_counter()
    for index in range(count):
        delay = start + index / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        await producer.send(topic, str(time.time()).encode())
    await asyncio.wait_for(reading, 60)
    await producer.stop()
    await consumer.stop()
    return latencies


class CpuMeter:
    """CPU seconds each running service and the broker spend from now on (kernel accounting: contention-proof)."""

    def __init__(self, platform: Platform) -> None:
        self.pids = {name: platform.processes[name].pid for name in RUNNING}
        broker = next(s for s in platform.infra._servers if s.name == "tansu")  # noqa: SLF001
        if broker.process is not None:
            self.pids["broker"] = broker.process.pid
        self.start = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        self.started = time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def since(self) -> dict[str, float]:
        return {name: cpu_seconds(pid) - self.start[name] for name, pid in self.pids.items()}


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Timeline:
    """What happened to every benchmark message, by index."""

    def __init__(self) -> None:
        self.posted: dict[int, float] = {}
        self.by_sha: dict[str, int] = {}
        self.kafka: dict[str, dict[int, float]] = {"webhook.received": {}, "message.received": {},
                                                   "conversation.changed": {}}
        self.appended: dict[int, float] = {}
        self.unmarked: dict[str, int] = {}  # records of each topic without a benchmark marker (set-up check)
        self.received: dict[int, list[float]] = {}


async def watch_topics(bootstrap: str, timeline: Timeline, ready: asyncio.Event) -> None:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    partitions = [TopicPartition(t, p) for t in timeline.kafka
                  for p in (consumer.partitions_for_topic(t) or await _partitions(consumer, t))]
    consumer.assign(partitions)
    await consumer.seek_to_end(*partitions)
    ready.set()
    try:
        while True:
            for tp, records in (await consumer.getmany(timeout_ms=500)).items():
                for record in records:
                    if tp.topic == "webhook.received":
                        sha = json.loads(record.value).get("content_sha256")
                        index = timeline.by_sha.get(sha)
                    else:
                        match = MARK.search(record.value)
                        index = int(match.group(1)) if match else None
                    if index is not None:
                        timeline.kafka[tp.topic].setdefault(index, record.timestamp / 1000)
                    else:
                        timeline.unmarked[tp.topic] = timeline.unmarked.get(tp.topic, 0) + 1
    finally:
        await consumer.stop()


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    await consumer._client.force_metadata_update()  # noqa: SLF001
    return consumer.partitions_for_topic(topic) or {0}


async def client(url: str, token: str, timeline: Timeline | None, connected: asyncio.Event) -> None:
    """One socket, read until cancelled; the demo tenant's sockets note when each benchmark frame arrived."""
    async with connect(f"{url}?access_token={token}", open_timeout=60, max_size=None) as ws:
        connected.set()
        async for raw in ws:
            now = time.time()
            if timeline is None:
                continue
            match = MARK.search(raw.encode() if isinstance(raw, str) else raw)
            if match and '"conversation.message-added"' in raw:
                index = int(match.group(1))
                timeline.received.setdefault(index, []).append(now)
                timeline.appended.setdefault(index, int(json.loads(raw)["id"].split("-")[0]) / 1000)


async def delivered(timeline: Timeline, indexes: range, within: float) -> bool:
    """Wait until a frame of every message in ``indexes`` arrived (or ``within`` seconds pass)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if all(i in timeline.received for i in indexes):
            return True
        await asyncio.sleep(0.5)
    return False


async def load(platform: Platform, args: argparse.Namespace, timeline: Timeline, first: int = 0) -> None:
    env = platform.service_env(next(s for s in SERVICES if s.name == "ingest"))
    number, secret = env["PARLEY_DEMO_PHONE_NUMBER_ID"], env["INGEST_APP_SECRETS"]
    port = platform.service_ports["ingest"]
    pool: asyncio.Queue[Connection] = asyncio.Queue()
    for _ in range(max(1, min(32, int(args.rate / 10)))):  # few enough that none idles past keep-alive
        pool.put_nowait(Connection("127.0.0.1", port))

    def webhook(index: int) -> bytes:
        customer = f"5511{index % args.customers:09d}"
        # The marker rides in the wamid: conversation events and frames carry it, while the body is sealed.
        body = meta.encode(meta.text_notification(number, customer, "hello from customer",
                                                  message_id=f"wamid.rtbench-{index}-{uuid.uuid4().hex}"))
        timeline.by_sha[hashlib.sha256(body).hexdigest()] = index
        return request_bytes("127.0.0.1", port, "/webhooks/whatsapp", body,
                             {"X-Hub-Signature-256": meta.sign(body, secret)})

    async def one(index: int, raw: bytes) -> None:
        conn = await pool.get()
        try:
            timeline.posted[index] = time.time()
            await conn.send(raw)
        finally:
            pool.put_nowait(conn)

    total, tasks = int(args.rate * args.seconds), []
    start = time.perf_counter()
    for index in range(first, first + total):
        raw = webhook(index)
        delay = start + (index - first) / args.rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(index, raw)))
    await asyncio.gather(*tasks)
    print(f"posted {total} webhooks in {time.perf_counter() - start:.1f}s", flush=True)


async def run(platform: Platform, args: argparse.Namespace, issuer: TokenIssuer) -> None:
    bootstrap = platform.infra.kafka_bootstrap
    default = await bare_kafka_hop(bootstrap, args.rate, int(args.rate * 5))
    print(line("bare hop, aiokafka defaults (fetch wait 500 ms)", default), flush=True)
    bare = await bare_kafka_hop(bootstrap, args.rate, int(args.rate * 5), fetch_max_wait_ms=args.fetch_wait,
                                linger_ms=args.linger)
    baseline = f"baseline: bare hop, fetch wait {args.fetch_wait} ms"
    print(line(baseline, bare), flush=True)

    gateway_env = platform.service_env(next(s for s in SERVICES if s.name == "gateway"))
    demo_tenant = uuid.UUID(gateway_env["PARLEY_DEMO_TENANT_ID"])
    tenants = [demo_tenant] + [uuid.uuid4() for _ in range(args.tenants - 1)]
    url = platform.url("gateway").replace("http://", "ws://") + "/v1/realtime"
    timeline = Timeline()
    watcher_ready = asyncio.Event()
    watcher = asyncio.create_task(watch_topics(bootstrap, timeline, watcher_ready))
    clients, connected = [], []
    for index in range(args.clients):
        tenant = tenants[index % len(tenants)]
        event = asyncio.Event()
        token = issuer.issue(user_id=uuid.uuid4(), tenant_id=tenant, role="owner")
        clients.append(asyncio.create_task(client(url, token, timeline if tenant == demo_tenant else None, event)))
        connected.append(event)
        if index % 50 == 49:
            await asyncio.gather(*(e.wait() for e in connected))
    await asyncio.gather(*(e.wait() for e in connected), watcher_ready.wait())
    receivers = sum(1 for i in range(args.clients) if tenants[i % len(tenants)] == demo_tenant)
    print(f"{args.clients} sockets open ({receivers} of the demo tenant receive the traffic)", flush=True)

    warm = Timeline()
    warm_args = argparse.Namespace(**{**vars(args), "rate": 20, "seconds": 2})
    await load(platform, warm_args, warm, first=WARM_UP)  # routes, consumer groups and conversations warmed up
    if not await delivered(timeline, range(WARM_UP, WARM_UP + 40), within=300):
        print("warning: not every warm-up message reached the sockets; the idle floor below is not idle", flush=True)
    idle = CpuMeter(platform)
    await asyncio.sleep(5)
    idle_rate = {name: seconds / idle.elapsed() for name, seconds in idle.since().items()}
    timeline.by_sha.clear()
    cpu = CpuMeter(platform)
    await load(platform, args, timeline)
    total = int(args.rate * args.seconds)
    await delivered(timeline, range(total), within=180)  # the backlog drains, or three minutes pass
    used, window = cpu.since(), cpu.elapsed()
    busy = {name: seconds - idle_rate[name] * window for name, seconds in used.items()}
    for task in clients:
        task.cancel()
    await asyncio.gather(*clients, return_exceptions=True)
    watcher.cancel()
    report(timeline, receivers, total, bare, baseline)
    print(line("bare hop, aiokafka defaults (fetch wait 500 ms)", default))
    print(f"CPU per message over {window:.0f} s (ms): "
          + ", ".join(f"{name} {seconds * 1000 / total:.2f}" for name, seconds in used.items()))
    print("the same less the idle floor measured before the run (ms): "
          + ", ".join(f"{name} {seconds * 1000 / total:.2f}" for name, seconds in busy.items()))
    print("idle floor (% of a core): " + ", ".join(f"{name} {rate * 100:.1f}" for name, rate in idle_rate.items()))


def report(t: Timeline, receivers: int, total: int, bare: list[float], baseline: str) -> None:
    def hop(start: dict[int, float], end: dict[int, float]) -> list[float]:
        return [(end[i] - start[i]) * 1000 for i in start if i in end]

    received = {i: times for i, times in t.received.items() if i in t.posted}  # warm-up messages left out
    first = {i: min(times) for i, times in received.items()}
    every = [(r - t.posted[i]) * 1000 for i, times in received.items() for r in times]
    delivered = sum(len(v) for v in received.values())
    print(f"\ndelivered {delivered} frames of {total * receivers} expected ({len(received)}/{total} messages)")
    print("records without a benchmark marker (other events, warm-up):",
          ", ".join(f"{topic} {count}" for topic, count in t.unmarked.items()) or "none")
    print(line("POST → webhook.received on Kafka", hop(t.posted, t.kafka["webhook.received"])))
    print(line("webhook.received → message.received", hop(t.kafka["webhook.received"], t.kafka["message.received"])))
    print(line("message.received → conversation.changed", hop(t.kafka["message.received"],
                                                              t.kafka["conversation.changed"])))
    print(line("conversation.changed → gateway stream append", hop(t.kafka["conversation.changed"], t.appended)))
    print(line("stream append → first socket", hop(t.appended, first)))
    print(line("END TO END: POST → frame (every socket)", every))
    print(line(baseline, bare))
    print(f"ratio end-to-end / bare hop: p50 {pct(every, 50) / pct(bare, 50):.1f}x, "
          f"p99 {pct(every, 99) / pct(bare, 99):.1f}x  (target p99 <= 150 ms)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument("--tenants", type=int, default=50)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--customers", type=int, default=2000, help="distinct senders (conversations)")
    parser.add_argument("--relay-idle", type=float, default=None,
                        help="<SERVICE>_RELAY_IDLE_SECONDS for ingest and conversation (kit default 0.05)")
    parser.add_argument("--fetch-wait", type=int, default=None,
                        help="<SERVICE>_CONSUMER_REALTIME_FETCH_WAIT_MS of every service (kit default: "
                             f"{DEFAULTS.consumer_realtime_fetch_wait_ms}); the baseline hop uses the same")
    args = parser.parse_args()
    args.linger = DEFAULTS.kafka_linger_ms
    fetch_wait = args.fetch_wait
    args.fetch_wait = DEFAULTS.consumer_realtime_fetch_wait_ms if fetch_wait is None else fetch_wait
    state = Path(tempfile.mkdtemp(prefix="parley-bench-"))
    ports = {s.name: free_port() for s in SERVICES}
    platform = Platform(state_dir=state, infra=Infra(state, InfraPorts(free_port(), free_port(), free_port())),
                        service_ports=ports, environ={**os.environ, "LOG_LEVEL": "WARNING"})
    extra: dict[str, dict[str, str]] = {
        "gateway": {"GATEWAY_SERVICE_URLS": ",".join(f"{n}={platform.url(n)}" for n in RUNNING)}}
    for spec in (s for s in SERVICES if s.name in RUNNING):
        env = extra.setdefault(spec.name, {})
        if args.relay_idle is not None and spec.name in ("ingest", "conversation"):
            env[f"{spec.prefix}RELAY_IDLE_SECONDS"] = str(args.relay_idle)
        if fetch_wait is not None:
            env[f"{spec.prefix}CONSUMER_REALTIME_FETCH_WAIT_MS"] = str(fetch_wait)
    try:
        platform.infra.start()
        platform.prepare()
        platform.start_services(only=list(RUNNING), extra_env=extra)
        platform.wait_ready(only=list(RUNNING), timeout=180)
        platform.seed_demo()
        print(f"relay idle: {args.relay_idle if args.relay_idle is not None else 'kit default (0.05 s)'}; "
              f"realtime-path consumers' fetch wait {args.fetch_wait} ms, producer linger {args.linger} ms", flush=True)
        gateway_env = platform.service_env(next(s for s in SERVICES if s.name == "gateway"))
        key = serialization.load_pem_private_key(Path(gateway_env["GATEWAY_JWT_PRIVATE_KEY_FILE"]).read_bytes(), None)
        asyncio.run(run(platform, args, TokenIssuer(key, ttl_seconds=3600)))  # type: ignore[arg-type]
    finally:
        platform.stop()


if __name__ == "__main__":
    main()
