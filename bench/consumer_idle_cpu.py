"""What a shorter consumer fetch wait costs an idle service: CPU of the service and of the broker, per wait.

    .tools/bin/uv run python bench/consumer_idle_cpu.py [--service conversation] [--waits 100,20,10] [--seconds 20]

Starts embedded Postgres/Valkey/Tansu, then the service alone, once with its consumers off (the baseline: HTTP
server and outbox relay only) and once per fetch wait in ``--waits`` (``<PREFIX>CONSUMER_FETCH_WAIT_MS`` and
``<PREFIX>CONSUMER_REALTIME_FETCH_WAIT_MS`` both, so every consumer of the service uses it). With no traffic,
each consumer sends one fetch per wait (Tansu answers a fetch only when the wait runs out), so the figure is the
price of the hop latency the wait buys. Prints the CPU share (of one core) of the service process and of the
broker over ``--seconds`` after the consumers joined their groups, and the extra over the baseline. CPU time is
counted by the kernel, so other load on the machine changes it little.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from parley.devstack.catalog import SERVICES  # noqa: E402
from parley.devstack.stack import Infra, InfraPorts, Platform  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def measure(platform: Platform, service: str, env: dict[str, str], settle: float, seconds: float,
            broker_pid: int) -> tuple[float, float]:
    """(service, broker) CPU share of one core while the service idles with ``env``."""
    platform.start_services(only=[service], extra_env={service: env})
    try:
        platform.wait_ready(only=[service], timeout=120)
        time.sleep(settle)  # consumer groups join (seconds on Tansu) and start their fetch loops
        pid = platform.processes[service].pid
        service_start, broker_start, start = cpu_seconds(pid), cpu_seconds(broker_pid), time.monotonic()
        time.sleep(seconds)
        elapsed = time.monotonic() - start
        return ((cpu_seconds(pid) - service_start) / elapsed * 100,
                (cpu_seconds(broker_pid) - broker_start) / elapsed * 100)
    finally:
        platform.stop_service(service)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--service", default="conversation")
    parser.add_argument("--waits", default="100,20,10", help="fetch waits (ms) to compare, comma-separated")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--settle", type=float, default=15.0)
    args = parser.parse_args()
    spec = next(s for s in SERVICES if s.name == args.service)
    state = Path(tempfile.mkdtemp(prefix="parley-bench-"))
    ports = {s.name: free_port() for s in SERVICES}
    platform = Platform(state_dir=state, infra=Infra(state, InfraPorts(free_port(), free_port(), free_port())),
                        service_ports=ports, environ={**os.environ, "LOG_LEVEL": "WARNING"})
    try:
        platform.infra.start()
        platform.prepare()
        broker = next(s for s in platform.infra._servers if s.name == "tansu")  # noqa: SLF001
        assert broker.process is not None
        runs = [("consumers off (baseline)", {f"{spec.prefix}CONSUMERS_ENABLED": "false"})]
        runs += [(f"fetch wait {w} ms", {f"{spec.prefix}CONSUMER_FETCH_WAIT_MS": w,
                                         f"{spec.prefix}CONSUMER_REALTIME_FETCH_WAIT_MS": w})
                 for w in args.waits.split(",")]
        results = []
        for name, env in runs:
            service_cpu, broker_cpu = measure(platform, args.service, env, args.settle, args.seconds,
                                              broker.process.pid)
            results.append((name, service_cpu, broker_cpu))
            print(f"{args.service} idle, {name:<26} service {service_cpu:5.1f}% CPU   broker {broker_cpu:5.1f}% CPU",
                  flush=True)
        _, base_service, base_broker = results[0]
        print(f"\nextra CPU over the baseline (% of one core) with {args.service}'s consumers idle:")
        for name, service_cpu, broker_cpu in results[1:]:
            print(f"  {name:<26} service +{service_cpu - base_service:5.1f}   broker +{broker_cpu - base_broker:5.1f}"
                  f"   total +{service_cpu + broker_cpu - base_service - base_broker:5.1f}")
    finally:
        platform.stop()


if __name__ == "__main__":
    main()
