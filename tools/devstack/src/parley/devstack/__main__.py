"""``python -m parley.devstack run``: the whole platform in the foreground until Ctrl-C / SIGTERM."""

from __future__ import annotations

import argparse
import fcntl
import os
import signal
import sys
import threading
import time
from pathlib import Path

from sqlalchemy.engine import make_url

from parley.devstack import catalog
from parley.devstack.catalog import SERVICES
from parley.devstack.infra import port_open
from parley.devstack.stack import Infra, InfraPorts, Platform, PortBusy, demo_settings


def _state_dir() -> Path:
    return Path(os.environ.get("PARLEY_STATE_DIR", Path.cwd() / ".state")).resolve()


def _take_lock(state_dir: Path) -> object:
    state_dir.mkdir(parents=True, exist_ok=True)
    handle = open(state_dir / "run.lock", "a+")  # noqa: SIM115 - held for the life of the process
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        pid = handle.read().strip() or "?"
        sys.exit(f"Parley is already running from {state_dir} (pid {pid}). Stop it with Ctrl-C in its terminal "
                 f"(or `kill {pid}`), or use another PARLEY_STATE_DIR and ports.")
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


def _print_table(platform: Platform) -> None:
    demo = demo_settings(platform.environ)
    infra = platform.infra
    rows = [(s.name, platform.url(s.name)) for s in SERVICES]
    rows.append(("sandbox", f"{platform.sandbox_url()}  (Cloud API sandbox: Graph API + simulated customers)"))
    rows += [
        ("postgres", make_url(infra.admin_database_url).render_as_string(hide_password=True)
         + ("  (embedded)" if "postgres" in infra.embedded else "")),
        ("valkey", infra.redis_url + ("  (embedded)" if "valkey" in infra.embedded else "")),
        ("kafka", infra.kafka_bootstrap + ("  (embedded Tansu, memory)" if "tansu" in infra.embedded else "")),
    ]
    width = max(len(name) for name, _ in rows)
    print("\nParley is running.\n")
    for name, where in rows:
        print(f"  {name:<{width}}  {where}")
    print(f"""
  WhatsApp webhook     POST {platform.url('ingest')}/webhooks/whatsapp
  verify token         {platform.service_env(SERVICES[1])['INGEST_VERIFY_TOKEN']}
  app secret           {platform.service_env(SERVICES[1])['INGEST_APP_SECRETS']}
  demo owner           {demo['PARLEY_DEMO_EMAIL']} / {demo['PARLEY_DEMO_PASSWORD']}
  demo tenant id       {demo['PARLEY_DEMO_TENANT_ID']}
  demo phone_number_id {demo['PARLEY_DEMO_PHONE_NUMBER_ID']}
  sandbox Graph API    {platform.sandbox_url()}/v23.0  (token {catalog.SANDBOX_TOKEN})
  simulate a customer  POST {platform.sandbox_url()}/sandbox/customers/{{wa_id}}/messages
  logs                 {platform.state_dir / 'logs'}
  readiness            GET {platform.url('gateway')}/readyz

Press Ctrl-C to stop.
""", flush=True)


def run() -> None:
    state_dir = _state_dir()
    lock = _take_lock(state_dir)
    service_ports = {s.name: s.port() for s in SERVICES}
    sandbox_port = int(os.environ.get("SANDBOX_PORT", catalog.SANDBOX_DEFAULT_PORT))
    busy = [f"{name}:{port}" for name, port in {**service_ports, "sandbox": sandbox_port}.items()
            if port_open("127.0.0.1", port)]
    if busy:
        sys.exit(f"ports already in use: {', '.join(busy)} — is another Parley (or something else) running? "
                 "Override with GATEWAY_PORT, INGEST_PORT, ...")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    platform = Platform(state_dir=state_dir, infra=Infra(state_dir, InfraPorts.from_env()), service_ports=service_ports)
    try:
        print(f"Starting infrastructure in {state_dir} ...", flush=True)
        platform.infra.start()
        platform.prepare()
        print("Starting services ...", flush=True)
        platform.start_services()
        platform.start_sandbox()
        platform.wait_ready()
        if platform.service_env(SERVICES[0])["PARLEY_ENV"] == "development":
            platform.seed_demo()
        _print_table(platform)
        while not stop.is_set():
            for name, process in platform.processes.items():
                if process.poll() is not None:
                    print(f"{name} exited with code {process.returncode}; see {state_dir / 'logs' / name}.log",
                          flush=True)
                    stop.set()
            stop.wait(1.0)
    except PortBusy as exc:
        print(f"error: {exc}", file=sys.stderr)
    finally:
        print("Stopping ...", flush=True)
        started = time.monotonic()
        platform.stop()
        print(f"Stopped in {time.monotonic() - started:.1f}s.", flush=True)
        del lock


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m parley.devstack")
    parser.add_argument("command", choices=["run"], nargs="?", default="run")
    parser.parse_args()
    run()


if __name__ == "__main__":
    main()
