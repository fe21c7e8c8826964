"""Sender throughput: five sandbox numbers at 80 msg/s each (400/s configured), against the sandbox's own capacity.

    .tools/bin/uv run python bench/sender_throughput.py [--messages 20000] [--numbers 5] [--rate 80]
        [--kafka-messages 1000] [--pool] [--preload]

Starts embedded Postgres/Valkey/Tansu, the Cloud API sandbox and the real sender service (its
send loops, consumers and outbox relay in one process). Then, in this order:

1. baseline: direct ``POST /messages`` to the sandbox from this process (numbers without a limit),
   as fast as the sandbox accepts them: the sandbox's own acceptance rate on this machine;
2. the send path: ``--messages`` requests enter the sender's queue through its ``message.requested``
   handler (the consumer's code, called here in batches) at the configured rate; the sender sends
   them. Prints the achieved send rate as a ratio of the configured rate (target >= 0.95), the highest
   per-number count in any 1 s window as counted by the sandbox (must never exceed ``--rate``),
   duplicates (must be 0), and p50/p99 from request to sandbox acceptance;
3. the consumer path: ``--kafka-messages`` requests published to Kafka, and how fast the sender's
   consumer queues them.

CPU per message of the sender and the sandbox processes is printed too: on a shared machine it is the
figure that survives contention. The sandbox's status webhooks (sent, delivered, read for every send)
go to a sink in this process that answers 200, so the sandbox does Meta's work but ingest is not measured.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiokafka import AIOKafkaProducer  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from parley.contracts import Envelope  # noqa: E402
from parley.contracts.binding import to_record  # noqa: E402
from parley.contracts.events.channels import ChannelRegistered  # noqa: E402
from parley.contracts.events.messages import MessageRequested, Requester  # noqa: E402
from parley.devstack.catalog import SERVICES  # noqa: E402
from parley.devstack.stack import Infra, InfraPorts, Platform  # noqa: E402
from parley.kit.crypto import TenantCipher, load_keyring  # noqa: E402
from parley.sender import outbound, pools, service  # noqa: E402
from parley.sender.main import build  # noqa: E402
from parley.sender.models import OutboundMessage, data_keys  # noqa: E402
from parley.sender.settings import SenderSettings  # noqa: E402

SENDER = next(s for s in SERVICES if s.name == "sender")
TEMPLATE = {"name": "hello_world", "language": {"code": "en_US"}}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class WebhookSink:
    """Answers 200 to every POST (the sandbox's status webhooks) and counts them; HTTP/1.1 keep-alive."""

    def __init__(self) -> None:
        self.posts = 0
        self.port = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{self.port}/webhooks/whatsapp"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                await reader.readexactly(length)
                self.posts += 1
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass  # the sandbox closed the connection, or the bench is stopping
        finally:
            writer.close()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))] if ordered else float("nan")


async def add_numbers(sandbox: httpx.AsyncClient, count: int, throughput: int, tag: str) -> list[tuple[str, str]]:
    numbers = []
    for i in range(count):
        number, token = f"9{tag}{uuid.uuid4().int % 10**11:011d}{i}", f"bench-{uuid.uuid4().hex}"
        response = await sandbox.post("/sandbox/numbers", json={
            "phone_number_id": number, "display_phone_number": f"1555{i:07d}", "waba_id": f"8{i:09d}",
            "verified_name": "Bench", "access_token": token, "throughput": throughput})
        response.raise_for_status()
        numbers.append((number, token))
    return numbers


async def baseline(sandbox_url: str, seconds: float, connections: int) -> tuple[float, int]:
    """The sandbox's acceptance rate for direct POSTs (numbers at 1000/s, so its limit does not bind)."""
    async with httpx.AsyncClient(base_url=sandbox_url, timeout=30,
                                 limits=httpx.Limits(max_connections=connections)) as sandbox:
        numbers = await add_numbers(sandbox, 5, 1000, "1")
        accepted, deadline = 0, time.monotonic() + seconds

        async def client(worker: int) -> None:
            nonlocal accepted
            i = 0
            while time.monotonic() < deadline:
                number, token = numbers[(worker + i) % len(numbers)]
                i += 1
                try:
                    response = await sandbox.post(
                        f"/v23.0/{number}/messages", headers={"Authorization": f"Bearer {token}"},
                        json={"messaging_product": "whatsapp", "to": f"1999{worker:03d}{i:07d}", "type": "template",
                              "template": TEMPLATE, "biz_opaque_callback_data": str(uuid.uuid4())})
                except httpx.HTTPError:  # an overloaded machine drops connections: not accepted
                    continue
                accepted += response.status_code == 200

        started = time.monotonic()
        await asyncio.gather(*(client(w) for w in range(connections)))
        return accepted / (time.monotonic() - started), accepted


async def register(settings: SenderSettings, numbers: list[tuple[str, str]], tenant_id: uuid.UUID,
                   with_pool: bool) -> uuid.UUID | None:
    built = build(settings)
    await built.migrate()
    cipher = TenantCipher(load_keyring(settings), data_keys)
    # Row-level security: a tenant's channels are written in that tenant's scope, as the API does.
    async with built.db.unit_of_work(tenant_id=tenant_id) as session:
        for number, token in numbers:
            await service.register_channel(session, built.store, cipher, tenant_id, ChannelRegistered(
                phone_number_id=number, waba_id="800000001", display_phone_number="+1 555 0100"), token)
        pool = await pools.create_pool(session, built.store, tenant_id, "bench", [n for n, _ in numbers]) \
            if with_pool else None
    await built.db.dispose()
    return pool.id if pool else None


def request(tenant_id: uuid.UUID, index: int, numbers: list[str], pool_id: uuid.UUID | None,
            run: str) -> tuple[Envelope, str]:
    client_message_id = uuid.uuid4()
    payload = MessageRequested(
        client_message_id=client_message_id, phone_number_id=None if pool_id else numbers[index % len(numbers)],
        pool_id=pool_id, to=f"1{run}{index:07d}", type="template", content=TEMPLATE,
        requested_by=Requester(kind="api", id="bench"))
    return Envelope.wrap(payload, source="/bench", tenant_id=tenant_id), str(client_message_id)


async def inject(settings: SenderSettings, tenant_id: uuid.UUID, numbers: list[str], pool_id: uuid.UUID | None,
                 total: int, rate: float) -> dict[str, float]:
    """Queue ``total`` requests through the consumer's handler at ``rate``; returns request time per id."""
    built = build(settings)
    requested: dict[str, float] = {}
    run = f"{uuid.uuid4().int % 1000:03d}"
    started, index = time.monotonic(), 0
    try:
        while index < total:
            # Small transactions (like a batching consumer's), so a lagging injector still queues steadily.
            due = min(total, int((time.monotonic() - started) * rate) + 1, index + 50)
            if due <= index:
                await asyncio.sleep(0.005)
                continue
            async with built.db.unit_of_work(tenant_id=tenant_id) as session:  # as the consumer scopes it
                now = time.time()
                made = [request(tenant_id, i, numbers, pool_id, run) for i in range(index, due)]
                await outbound.accept_requests(session, built.store, built.definition.extra_state["tenant_cipher"],
                                               [envelope for envelope, _ in made])
                requested.update((client_message_id, now) for _, client_message_id in made)
            index = due
    finally:
        await built.db.dispose()
    elapsed = time.monotonic() - started
    print(f"requests queued      : {total:,} in {elapsed:.1f} s ({total / elapsed:,.0f}/s offered)", flush=True)
    return requested


async def wait_sent(sandbox: httpx.AsyncClient, numbers: set[str], ids: set[str], within: float,
                    stalled_after: float = 60.0) -> list[dict[str, object]]:
    """Every send of ``ids``, or those sent when ``within`` is over or nothing more was sent for ``stalled_after``
    (a send left in doubt waits for Meta's statuses, which this bench does not feed back). Polls the per-number
    totals: listing every send each time costs the sandbox."""
    deadline, sent, progress_at = time.monotonic() + within, -1, time.monotonic()
    while time.monotonic() < deadline and time.monotonic() - progress_at < stalled_after:
        totals = (await sandbox.get("/sandbox/stats")).json()["sends"]["numbers"]
        now_sent = sum(totals[n]["total"] for n in numbers if n in totals)
        if now_sent >= len(ids):
            break
        if now_sent > sent:
            sent, progress_at = now_sent, time.monotonic()
        await asyncio.sleep(2.0)
    return [s for s in (await sandbox.get("/sandbox/sends", params={"payloads": "false"})).json()["sends"]
            if s["biz_opaque_callback_data"] in ids]


async def consumer_path(platform: Platform, settings: SenderSettings, tenant_id: uuid.UUID, numbers: list[str],
                        count: int) -> None:
    """Publish ``count`` requests to Kafka and time the sender's consumer queueing them."""
    producer = AIOKafkaProducer(bootstrap_servers=platform.infra.kafka_bootstrap, acks="all")
    await producer.start()
    ids, run = [], f"{uuid.uuid4().int % 1000:03d}"
    try:
        for i in range(count):
            envelope, client_message_id = request(tenant_id, i, numbers, None, run)
            key, value, headers = to_record(envelope)
            topic = f"{platform.environ.get('KAFKA_TOPIC_PREFIX', '')}message.requested"
            await producer.send(topic, value=value, key=key, headers=headers)
            ids.append(uuid.UUID(client_message_id))
        await producer.flush()
    finally:
        await producer.stop()
    built = build(settings)
    started, queued = time.monotonic(), 0
    try:
        while queued < count and time.monotonic() - started < 600:
            await asyncio.sleep(1.0)
            async with built.db.unit_of_work(tenant_id=tenant_id) as session:
                queued = (await session.execute(select(func.count()).select_from(OutboundMessage)
                                                .where(OutboundMessage.client_message_id.in_(ids)))).scalar_one()
    finally:
        await built.db.dispose()
    elapsed = time.monotonic() - started
    print(f"consumer path        : {queued:,}/{count:,} requests from Kafka queued in {elapsed:.1f} s "
          f"= {queued / elapsed:,.1f}/s", flush=True)


def start_sender(platform: Platform, env: dict[str, str]) -> None:
    platform.start_services(only=["sender"], extra_env={"sender": env})


async def run(platform: Platform, args: argparse.Namespace) -> None:
    env = platform.service_env(SENDER)
    os.environ.update({k: v for k, v in env.items() if k.startswith(("SENDER_", "PARLEY_", "REDIS_", "KAFKA_"))})
    settings = SenderSettings(database_url=platform.database_url(SENDER), redis_url=platform.infra.redis_url,
                              graph_api_url=f"{platform.sandbox_url()}/v23.0")
    sink = WebhookSink()
    async with httpx.AsyncClient(base_url=platform.sandbox_url(), timeout=60) as sandbox:
        (await sandbox.put("/sandbox/webhook", json={"url": await sink.start()})).raise_for_status()
    sandbox_pid = platform.processes["sandbox"].pid
    before = cpu_seconds(sandbox_pid)
    raw, accepted = await baseline(platform.sandbox_url(), args.baseline_seconds, 64)
    print(f"baseline             : sandbox accepts {raw:,.0f} direct POSTs/s (64 connections, no limit), "
          f"{(cpu_seconds(sandbox_pid) - before) / max(1, accepted) * 1e6:,.0f} us sandbox CPU per POST", flush=True)

    tenant_id = uuid.uuid4()
    async with httpx.AsyncClient(base_url=platform.sandbox_url(), timeout=60) as sandbox:
        numbers = await add_numbers(sandbox, args.numbers, args.rate, "2")
        pool_id = await register(settings, numbers, tenant_id, args.pool)
        configured = args.numbers * args.rate
        print(f"configured           : {args.numbers} numbers x {args.rate}/s = {configured}/s"
              f"{' (sent to a pool)' if pool_id else ''}", flush=True)
        if args.preload:  # the whole backlog queued first: measures the send path alone
            requested = await inject(settings, tenant_id, [n for n, _ in numbers], pool_id, args.messages, 1e9)
        start_sender(platform, {"SENDER_GRAPH_API_URL": settings.graph_api_url,
                                "SENDER_THROUGHPUT_PER_SECOND": str(args.rate),
                                **({"SENDER_WORKERS": str(args.workers)} if args.workers else {})})
        platform.wait_ready(only=["sender"])
        sender_pid = platform.processes["sender"].pid
        cpu = {"sandbox": cpu_seconds(sandbox_pid), "sender": cpu_seconds(sender_pid)}
        if not args.preload:
            requested = await inject(settings, tenant_id, [n for n, _ in numbers], pool_id, args.messages, configured)
        sends = await wait_sent(sandbox, {n for n, _ in numbers}, set(requested),
                                within=max(900.0, args.messages / configured * 4))
        cpu = {name: cpu_seconds(pid) - cpu[name] for name, pid in (("sandbox", sandbox_pid), ("sender", sender_pid))}
        stats = (await sandbox.get("/sandbox/stats")).json()
        report(sends, stats, {n for n, _ in numbers}, requested, configured, raw, args)
        per_message = {name: seconds / max(1, len(sends)) * 1e6 for name, seconds in cpu.items()}
        print(f"CPU per sent message : sender {per_message['sender']:,.0f} us, "
              f"sandbox {per_message['sandbox']:,.0f} us "
              f"(incl. its status webhooks: {stats['webhooks']['events_delivered']:,} events in {sink.posts:,} POSTs)"
              f"{'; injector in this process not counted' if not args.preload else ''}", flush=True)
        if args.kafka_messages:
            await consumer_path(platform, settings, tenant_id, [n for n, _ in numbers], args.kafka_messages)
    await sink.stop()


def report(sends: list[dict[str, object]], stats: dict[str, object], ours: set[str], requested: dict[str, float],
           configured: int, raw: float, args: argparse.Namespace) -> None:
    numbers = stats["sends"]["numbers"]
    per_message: dict[str, int] = {}
    for send in sends:
        per_message[send["biz_opaque_callback_data"]] = per_message.get(send["biz_opaque_callback_data"], 0) + 1
    duplicates = sum(n - 1 for n in per_message.values()) + sum(1 for s in sends if s["duplicate_of"])
    times = sorted(float(s["timestamp"]) for s in sends)
    span = times[-1] - times[0] if len(times) > 1 else float("nan")
    achieved = (len(times) - 1) / span if span else float("nan")
    latencies = [(float(s["timestamp"]) - requested[s["biz_opaque_callback_data"]]) * 1000 for s in sends]
    worst = max(numbers[n]["max_in_any_1s_window"] for n in ours if n in numbers)
    rejected = {n: numbers[n]["rejected"] for n in ours if n in numbers and numbers[n]["rejected"]}
    print(f"sent                 : {len(per_message):,}/{len(requested):,} messages accepted by the sandbox")
    print(f"achieved send rate   : {achieved:,.1f}/s = {achieved / configured:.3f}x of the configured "
          f"{configured}/s (target >= 0.95); {achieved / raw:.3f}x of the sandbox's direct-POST baseline")
    print(f"per-number max in 1 s: {worst} (limit {args.rate}); per number: "
          f"{[numbers[n]['max_in_any_1s_window'] for n in sorted(ours) if n in numbers]}; rejections {rejected}")
    print(f"duplicates           : {duplicates}")
    note = " (preloaded backlog: includes the wait in the queue)" if args.preload else ""
    print(f"request -> accepted  : p50 {percentile(latencies, 50):,.0f} ms, "
          f"p99 {percentile(latencies, 99):,.0f} ms{note}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--numbers", type=int, default=5)
    parser.add_argument("--rate", type=int, default=80, help="per-number throughput (sandbox limit and sender setting)")
    parser.add_argument("--workers", type=int, default=None, help="SENDER_WORKERS (default: the service's)")
    parser.add_argument("--baseline-seconds", type=float, default=5.0)
    parser.add_argument("--kafka-messages", type=int, default=1000)
    parser.add_argument("--pool", action="store_true", help="request to a pool of the numbers instead of each number")
    parser.add_argument("--preload", action="store_true",
                        help="queue every request before the sender starts (the send path alone, no injector limit)")
    args = parser.parse_args()
    state = Path(tempfile.mkdtemp(prefix="parley-bench-"))
    ports = {name: free_port() for name in ("gateway", "ingest", "conversation", "sender", "campaign",
                                             "flow-engine", "egress", "sandbox")}
    platform = Platform(state_dir=state, infra=Infra(state, InfraPorts(free_port(), free_port(), free_port())),
                        service_ports=ports, environ={**os.environ, "LOG_LEVEL": "WARNING"})
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the platform on a timeout's SIGTERM too
    try:
        platform.infra.start()
        platform.prepare()
        platform.start_sandbox()
        platform.wait_ready(only=["sandbox"])
        asyncio.run(run(platform, args))
    finally:
        platform.stop()


if __name__ == "__main__":
    main()
