"""Webhook ingest with full durability vs. a bare FastAPI endpoint on the same server, same run.

    .tools/bin/uv run python bench/ingest_throughput.py [--seconds 10] [--rate 1000]

Starts embedded Postgres/Valkey/Tansu and the real ingest service (its normalizer included), and a
bare FastAPI app served the same way (uvicorn, one worker) that only reads the body. Prints
sustained throughput of signed ~1 KB webhooks and p50/p99 acknowledgement latency at a fixed
rate for both, and the ratios. Load generator, servers and database share this machine's cores.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.loadgen import closed_loop, open_loop, request_bytes  # noqa: E402
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def webhook(phone_number_id: str, secret: str, host: str, port: int):
    def make(index: int) -> bytes:
        body = meta.encode(meta.notification(phone_number_id, messages=[meta.inbound(
            "text", {"body": f"bench message {index} " + "x" * 700}, sender=f"5511{index % 10**9:09d}")],
            contacts=[{"profile": {"name": "Bench Customer"}, "wa_id": f"5511{index % 10**9:09d}"}]))
        return request_bytes(host, port, "/webhooks/whatsapp", body, {"X-Hub-Signature-256": meta.sign(body, secret)})
    return make


async def measure(name: str, port: int, make, seconds: float, rate: float, connections: int) -> tuple:
    await closed_loop("127.0.0.1", port, make, connections, 2.0)  # warm-up
    throughput = await closed_loop("127.0.0.1", port, make, connections, seconds)
    print(f"{name:>6} sustained  : {throughput.summary()}", flush=True)
    at_rate = await open_loop("127.0.0.1", port, make, rate, seconds)
    print(f"{name:>6} at {rate:,.0f}/s : {at_rate.summary()}", flush=True)
    return throughput, at_rate


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--writers", type=int, default=None, help="INGEST_INTAKE_WRITERS (default: the service's)")
    parser.add_argument("--api-only", action="store_true",
                        help="ingest replica without its normalizer consumer and relay (they run elsewhere in prod)")
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
    try:
        platform.infra.start()
        platform.prepare()
        extra = {"INGEST_CONSUMERS_ENABLED": "false", "INGEST_RELAY_ENABLED": "false"} if args.api_only else {}
        if args.writers:
            extra["INGEST_INTAKE_WRITERS"] = str(args.writers)
        platform.start_services(only=["ingest"], extra_env={"ingest": extra})
        print("ingest mode:", "API only (normalizer and relay elsewhere)" if args.api_only
              else "all in one process (API + normalizer consumer + outbox relay)")
        platform.wait_ready(only=["ingest"])
        while httpx.get(f"http://127.0.0.1:{bare_port}/docs").status_code != 200:
            time.sleep(0.2)
        env = platform.service_env(next(s for s in __import__("parley.devstack.catalog",
                                                               fromlist=["SERVICES"]).SERVICES if s.name == "ingest"))
        number, secret = env["PARLEY_DEMO_PHONE_NUMBER_ID"], env["INGEST_APP_SECRETS"]
        print(f"signed webhook size: {len(webhook(number, secret, '127.0.0.1', 1)(0))} bytes on the wire")
        bare_t, bare_r = asyncio.run(measure("bare", bare_port, webhook(number, secret, "127.0.0.1", bare_port),
                                             args.seconds, args.rate, args.connections))
        ing_t, ing_r = asyncio.run(measure("ingest", ports["ingest"],
                                           webhook(number, secret, "127.0.0.1", ports["ingest"]),
                                           args.seconds, args.rate, args.connections))
        batches = [line for line in httpx.get(f"http://127.0.0.1:{ports['ingest']}/metrics").text.splitlines()
                   if line.startswith(("parley_ingest_batch_size_sum", "parley_ingest_batch_size_count", "parley_ingest_commit_seconds_sum", "parley_ingest_commit_seconds_count"))]
        print("\n".join(batches))
        print(f"\nthroughput ratio ingest/bare: {ing_t.rate / bare_t.rate:.2f}x "
              f"({ing_t.rate:,.0f}/s vs {bare_t.rate:,.0f}/s; target >= 0.5x)")
        print(f"p99 at {args.rate:,.0f}/s: ingest {ing_r.percentile(99):.1f} ms vs bare {bare_r.percentile(99):.1f} ms "
              f"(target <= 25 ms); p50 ingest {ing_r.percentile(50):.1f} ms vs bare {bare_r.percentile(50):.1f} ms")
    finally:
        bare.terminate()
        platform.stop()


if __name__ == "__main__":
    main()
