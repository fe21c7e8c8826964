"""Webhook ingest with full durability vs. a bare FastAPI endpoint on the same server, same run.

    .tools/bin/uv run python bench/ingest_throughput.py [--shape split|api-only|all-in-one] [--seconds 10]
                                                         [--rate 1000] [--connections 64]

Starts embedded Postgres/Valkey/Tansu, the real ingest service, and a bare FastAPI app served the
same way (uvicorn, one worker, uvloop + httptools, no access log) that only reads the body. Prints
for both: sustained throughput of signed ~1 KB webhooks (closed loop), p50/p99 acknowledgement
latency at a fixed rate (open loop), the server's CPU time per request, and the ratios.

Shapes (what runs the ingest side; ``--shape``):

* ``all-in-one`` (default; what docker-compose.yml and `make run` run): one process serving the API
  and running the outbox relay and the normalizer consumer.
* ``split``: the webhook API in one process (INGEST_CONSUMERS_ENABLED=false, INGEST_RELAY_ENABLED=false)
  and a second ingest process beside it running the relay and the normalizer (what deploy/k8s runs:
  the ``ingest`` and ``ingest-normalizer`` Deployments), both running throughout the measurement.
* ``api-only``: the API process alone; the events wait in the outbox (the pipeline is not measured).

For ``split`` and ``all-in-one`` the benchmark then waits until the pipeline has caught up (every
stored webhook normalized, every event published) and prints how long that took: the pipeline must
keep up, not defer work forever. It prints the normalizer's rate (webhooks normalized from the start
of the load to the end of the drain, beside the rate the intake stored them at) and, in ``split``, the
normalizer process's CPU per webhook normalized (bench/ingest_normalizer.py isolates the consumer).
The demo number is routed to the demo tenant, so each webhook
becomes a published webhook.received and a message.received. Load generator, servers and database
share this machine's cores; run it a few times and take the median.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.loadgen import Prebuilt, Result, closed_loop, open_loop, request_bytes, run  # noqa: E402
from parley.devstack.catalog import SERVICES  # noqa: E402
from parley.devstack.stack import Infra, InfraPorts, Platform  # noqa: E402
from tests.support import meta  # noqa: E402

BARE_APP = textwrap.dedent('''
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse
    app = FastAPI()

    @app.post("/webhooks/whatsapp")
    async def bare(request: Request) -> JSONResponse:
        await request.body()
        return JSONResponse({"success": True})
''')

API_ONLY = {"INGEST_CONSUMERS_ENABLED": "false", "INGEST_RELAY_ENABLED": "false"}
SHAPES = {
    "split": "split: webhook API process (no consumers, no relay) + ingest-normalizer process (relay + normalizer)",
    "api-only": "API only: one process without consumers and relay; the pipeline is NOT running",
    "all-in-one": "all in one process: API + normalizer consumer + outbox relay",
}
INGEST = next(s for s in SERVICES if s.name == "ingest")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def signed_bodies(phone_number_id: str, secret: str, count: int) -> list[tuple[bytes, str]]:
    bodies = []
    for index in range(count):
        sender = f"5511{index % 10**9:09d}"
        body = meta.encode(meta.notification(phone_number_id, messages=[meta.inbound(
            "text", {"body": f"bench message {index} " + "x" * 700}, sender=sender)],
            contacts=[{"profile": {"name": "Bench Customer"}, "wa_id": sender}]))
        bodies.append((body, meta.sign(body, secret)))
    return bodies


def requests_for(bodies: list[tuple[bytes, str]], port: int) -> Prebuilt:
    return Prebuilt(lambda i: request_bytes("127.0.0.1", port, "/webhooks/whatsapp", bodies[i][0],
                                            {"X-Hub-Signature-256": bodies[i][1]}), len(bodies))


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Measured:
    def __init__(self, name: str, throughput: Result, at_rate: Result, cpu_per_request: float) -> None:
        self.name, self.throughput, self.at_rate, self.cpu_per_request = name, throughput, at_rate, cpu_per_request


def measure(name: str, port: int, pid: int, make: Prebuilt, seconds: float, rate: float,
            connections: int) -> Measured:
    """Latency at the fixed rate first (after a 1 s warm-up at that rate), then sustained throughput: so the
    latency phase does not start on top of the backlog a flat-out phase leaves to the pipeline."""
    warm = run(open_loop("127.0.0.1", port, make, rate, 1.0))
    make.advance(warm.sent)
    at_rate = run(open_loop("127.0.0.1", port, make, rate, seconds))
    make.advance(at_rate.sent)
    print(f"{name:>6} at {rate:,.0f}/s : {at_rate.summary()}", flush=True)
    before = cpu_seconds(pid)
    throughput = run(closed_loop("127.0.0.1", port, make, connections, seconds))
    cpu = (cpu_seconds(pid) - before) / max(1, throughput.sent)
    make.advance(throughput.sent)
    print(f"{name:>6} sustained  : {throughput.summary()}; server CPU {cpu * 1e6:.0f} us/request", flush=True)
    return Measured(name, throughput, at_rate, cpu)


async def route_demo_number(admin_url: str, env: dict[str, str]) -> None:
    """The demo number's route, as ingest.routes would have projected it from channel.registered."""
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(
            "INSERT INTO ingest.channel_routes (phone_number_id, tenant_id, waba_id, display_phone_number, active,"
            " updated_at) VALUES ($1, $2, $3, $4, true, $5) ON CONFLICT (phone_number_id) DO NOTHING",
            env["PARLEY_DEMO_PHONE_NUMBER_ID"], __import__("uuid").UUID(env["PARLEY_DEMO_TENANT_ID"]),
            env["PARLEY_DEMO_WABA_ID"], env["PARLEY_DEMO_DISPLAY_NUMBER"], datetime.now(UTC))
    finally:
        await conn.close()


async def pipeline_backlog(admin_url: str) -> tuple[int, int, int]:
    """(webhooks stored, webhooks not normalized yet, events not published yet)."""
    conn = await asyncpg.connect(admin_url)
    try:
        stored = await conn.fetchval("SELECT count(*) FROM ingest.webhook_events")
        waiting = await conn.fetchval("SELECT count(*) FROM ingest.webhook_events WHERE status = 'received'")
        unpublished = await conn.fetchval(
            "SELECT count(*) FROM ingest.event_store WHERE published_at IS NULL AND topic IS NOT NULL")
        return stored, waiting, unpublished
    finally:
        await conn.close()


class Drain:
    """The pipeline's progress between the start of the ingest load and the end of the drain."""

    def __init__(self, stored: int, normalized: int, waiting_at_end: int, waiting: int, unpublished: int,
                 since_start: float, after_load: float, timeout: float, accepted_rate: float) -> None:
        self.stored, self.normalized, self.waiting, self.unpublished = stored, normalized, waiting, unpublished
        self.accepted_rate = accepted_rate
        self.waiting_at_end, self.since_start, self.after_load, self.timeout = (waiting_at_end, since_start,
                                                                                after_load, timeout)

    def summary(self) -> str:
        published = (f"every event published {self.after_load:.1f}s after the load ended" if self.unpublished == 0
                     else f"{self.unpublished:,} events still unpublished {self.timeout:.0f}s after the load ended")
        return (f"pipeline: {self.stored:,} webhooks stored; {published}; {self.waiting_at_end:,} webhooks were "
                f"still waiting for the normalizer when the load ended, {self.waiting:,} at the end")

    def normalizer_rate(self) -> float:
        """Webhooks normalized per second, from the start of the ingest load to the end of the drain."""
        return self.normalized / self.since_start if self.since_start > 0 else 0.0


def wait_for_drain(admin_url: str, load_started: float, load_ended: float, stored_before: int,
                   normalized_before: int, timeout: float) -> Drain:
    """Until every stored webhook is normalized and every event published (or ``timeout`` after the load)."""
    stored_at_end, waiting_at_end, _ = asyncio.run(pipeline_backlog(admin_url))
    accepted_rate = (stored_at_end - stored_before) / (load_ended - load_started)
    while True:
        stored, waiting, unpublished = asyncio.run(pipeline_backlog(admin_url))
        now = time.perf_counter()
        if (unpublished == 0 and waiting == 0) or now - load_ended > timeout:
            break
        time.sleep(0.2)
    return Drain(stored, stored - waiting - normalized_before, waiting_at_end, waiting, unpublished,
                 now - load_started, now - load_ended, timeout, accepted_rate)


def start_normalizer(platform: Platform, logs: Path, extra: dict[str, str]) -> tuple[subprocess.Popen[bytes], int]:
    """What deploy/ runs as ``ingest-normalizer``: the same image, relay + consumers, no webhook traffic."""
    port = free_port()
    env = {**platform.service_env(INGEST), "INGEST_PORT": str(port), **extra}
    log = open(logs / "ingest-normalizer.log", "ab")  # noqa: SIM115 - owned by the child
    process = subprocess.Popen([sys.executable, "-m", "parley.ingest"], env=env, stdout=log, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL, start_new_session=True)
    wait_http(f"http://127.0.0.1:{port}/readyz", process)
    return process, port


def wait_http(url: str, process: subprocess.Popen[bytes], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: the process exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} not ready after {timeout:.0f}s")


def batch_metrics(port: int) -> str:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics").text
    values = {line.split(" ")[0]: float(line.split(" ")[1]) for line in text.splitlines()
              if line.startswith(("parley_ingest_batch_size_sum", "parley_ingest_batch_size_count",
                                  "parley_ingest_commit_seconds_sum"))}
    count = values.get("parley_ingest_batch_size_count", 0.0) or 1.0
    return (f"group commit: {values.get('parley_ingest_batch_size_count', 0):,.0f} batches, "
            f"{values.get('parley_ingest_batch_size_sum', 0) / count:.1f} webhooks/batch on average, "
            f"{values.get('parley_ingest_commit_seconds_sum', 0) / count * 1000:.1f} ms/commit on average")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shape", choices=list(SHAPES), default="all-in-one")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--writers", type=int, default=None, help="INGEST_INTAKE_WRITERS (default: the service's)")
    parser.add_argument("--pool", type=int, default=40_000, help="distinct signed webhooks built before measuring")
    parser.add_argument("--drain-timeout", type=float, default=120.0)
    args = parser.parse_args()
    state = Path(tempfile.mkdtemp(prefix="parley-bench-"))
    ports = {name: free_port() for name in ("gateway", "ingest", "conversation", "sender", "campaign",
                                             "flow-engine", "egress")}
    platform = Platform(state_dir=state, infra=Infra(state, InfraPorts(free_port(), free_port(), free_port())),
                        service_ports=ports, environ={**os.environ, "LOG_LEVEL": "WARNING"})
    bare_port = free_port()
    (state / "bare_app.py").write_text(BARE_APP)
    bare = subprocess.Popen([sys.executable, "-m", "uvicorn", "bare_app:app", "--port", str(bare_port),
                             "--log-level", "warning", "--no-access-log"], cwd=state)
    normalizer: subprocess.Popen[bytes] | None = None
    try:
        platform.infra.start()
        platform.prepare()
        extra = dict(API_ONLY) if args.shape in ("split", "api-only") else {}
        if args.writers:
            extra["INGEST_INTAKE_WRITERS"] = str(args.writers)
        platform.start_services(only=["ingest"], extra_env={"ingest": extra})
        platform.wait_ready(only=["ingest"])
        env = platform.service_env(INGEST)
        asyncio.run(route_demo_number(platform.infra.admin_database_url, env))
        if args.shape == "split":
            normalizer, _ = start_normalizer(platform, state / "logs", {})
        print("ingest shape:", SHAPES[args.shape])
        wait_http(f"http://127.0.0.1:{bare_port}/docs", bare)
        bodies = signed_bodies(env["PARLEY_DEMO_PHONE_NUMBER_ID"], env["INGEST_APP_SECRETS"], args.pool)
        print(f"signed webhook size: {len(requests_for(bodies, bare_port)(0))} bytes on the wire; "
              f"{args.pool:,} distinct webhooks built before measuring")
        bare_m = measure("bare", bare_port, bare.pid, requests_for(bodies, bare_port), args.seconds, args.rate,
                         args.connections)
        normalizer_cpu = cpu_seconds(normalizer.pid) if normalizer else 0.0
        stored_before, waiting_before, _ = asyncio.run(pipeline_backlog(platform.infra.admin_database_url))
        load_started = time.perf_counter()
        ingest_m = measure("ingest", ports["ingest"], platform.processes["ingest"].pid,
                           requests_for(bodies, ports["ingest"]), args.seconds, args.rate, args.connections)
        load_ended = time.perf_counter()
        print(batch_metrics(ports["ingest"]))
        drain = None
        if args.shape != "api-only":
            drain = wait_for_drain(platform.infra.admin_database_url, load_started, load_ended, stored_before,
                                   stored_before - waiting_before, args.drain_timeout)
            print(drain.summary())
        normalizer_cpu = (cpu_seconds(normalizer.pid) - normalizer_cpu) if normalizer else None
        summarize(args, bare_m, ingest_m, drain, normalizer_cpu)
    finally:
        bare.terminate()
        if normalizer is not None:
            normalizer.terminate()
            normalizer.wait(10)
        platform.stop()
        shutil.rmtree(state, ignore_errors=True)


def summarize(args: argparse.Namespace, bare: Measured, ingest: Measured, drain: Drain | None,
              normalizer_cpu: float | None) -> None:
    ratio: Callable[[float, float], str] = lambda a, b: f"{a / b:.2f}x" if b else "n/a"  # noqa: E731
    print(f"\n== shape: {args.shape} ==")
    print(f"throughput: ingest {ingest.throughput.rate:,.0f}/s vs bare {bare.throughput.rate:,.0f}/s = "
          f"{ratio(ingest.throughput.rate, bare.throughput.rate)} (target >= 0.5x)")
    print(f"at {args.rate:,.0f}/s: ingest p50 {ingest.at_rate.percentile(50):.1f} ms, "
          f"p99 {ingest.at_rate.percentile(99):.1f} ms (target <= 25 ms); "
          f"bare p50 {bare.at_rate.percentile(50):.1f} ms, p99 {bare.at_rate.percentile(99):.1f} ms")
    print(f"server CPU per request: ingest {ingest.cpu_per_request * 1e6:.0f} us vs bare "
          f"{bare.cpu_per_request * 1e6:.0f} us = {ratio(ingest.cpu_per_request, bare.cpu_per_request)}")
    if drain is not None:
        print(f"normalizer: {drain.normalized:,} webhooks in {drain.since_start:.1f}s from the start of the load to "
              f"the end of the drain = {drain.normalizer_rate():,.0f} webhooks/s (intake stored "
              f"{drain.accepted_rate:,.0f}/s on average during the load; target: keep up with 1,000/s)")
    if drain is not None and normalizer_cpu is not None:
        print(f"ingest-normalizer process CPU: {normalizer_cpu / max(1, drain.normalized) * 1e6:.0f} us per webhook "
              f"normalized (consumer + relay publishing its webhook.received and message.received)")
    failed = {k: v for k, v in ingest.at_rate.statuses.items() if k != 200}
    failed.update({k: v for k, v in ingest.throughput.statuses.items() if k != 200})
    if failed:
        print(f"ingest answered non-200s: {failed}")


if __name__ == "__main__":
    main()
