"""`make run`'s promises: it reports where things listen, refuses a second copy, stops cleanly within
10 s leaving no process behind, and keeps data across a restart."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from parley.devstack.catalog import SERVICES
from tests.conftest import free_port
from tests.support import meta

pytestmark = [pytest.mark.e2e, pytest.mark.own_platform]


def _environment(state_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "KAFKA_BOOTSTRAP_SERVERS"}}
    env |= {"PARLEY_STATE_DIR": str(state_dir), "PARLEY_PG_PORT": str(free_port()),
            "PARLEY_VALKEY_PORT": str(free_port()), "PARLEY_KAFKA_PORT": str(free_port())}
    env |= {f"{spec.prefix}PORT": str(free_port()) for spec in SERVICES}
    return env


def _start(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "parley.devstack", "run"], env=env,
                            stdout=open(log, "ab"), stderr=subprocess.STDOUT)  # noqa: SIM115


def _wait_for_table(process: subprocess.Popen[bytes], log: Path, timeout: float = 180) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace")
        if "Press Ctrl-C to stop." in text:
            return text
        assert process.poll() is None, f"make run exited early:\n{text[-3000:]}"
        time.sleep(0.5)
    raise AssertionError(f"no readiness table after {timeout}s:\n{log.read_text()[-3000:]}")


def _stop(process: subprocess.Popen[bytes]) -> float:
    family = [process.pid] + [child.pid for child in psutil.Process(process.pid).children(recursive=True)]
    assert len(family) >= 1 + len(SERVICES) + 3, "every service and each embedded server is a child process"
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    process.wait(30)
    elapsed = time.monotonic() - started
    time.sleep(0.5)
    survivors = [pid for pid in family if psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie"]
    assert survivors == [], f"processes left behind: {survivors}"
    return elapsed


def _login(base: str, env: dict[str, str]) -> dict[str, str]:
    token = httpx.post(f"{base}/v1/auth/login", json={"email": "owner@demo.parley.local",
                                                      "password": "dev-only-demo-password"}).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


def test_run_stops_cleanly_refuses_a_second_copy_and_keeps_data(tmp_path: Path) -> None:
    env = _environment(tmp_path / "state")
    gateway = f"http://127.0.0.1:{env['GATEWAY_PORT']}"
    ingest = f"http://127.0.0.1:{env['INGEST_PORT']}"
    first = _start(env, tmp_path / "first.log")
    try:
        table = _wait_for_table(first, tmp_path / "first.log")
        for spec in SERVICES:
            assert f"http://127.0.0.1:{env[spec.prefix + 'PORT']}" in table
        assert "owner@demo.parley.local" in table and "100000000000001" in table

        second = subprocess.run([sys.executable, "-m", "parley.devstack", "run"], env=env, capture_output=True,
                                text=True, timeout=60)
        assert second.returncode != 0
        assert "already running" in second.stderr

        body = meta.encode(meta.text_notification("100000000000001", "5511988887777", "survives restarts"))
        assert httpx.post(f"{ingest}/webhooks/whatsapp", content=body,
                          headers=meta.signed_headers(body, "dev-only-app-secret")).status_code == 200
        auth = _login(gateway, env)
        deadline = time.monotonic() + 60
        while not httpx.get(f"{gateway}/v1/conversations", headers=auth).json()["data"]:
            assert time.monotonic() < deadline, "the message never reached the inbox"
            time.sleep(0.5)
    finally:
        elapsed = _stop(first) if first.poll() is None else 0.0
    assert elapsed < 10, f"stopping took {elapsed:.1f}s"

    again = _start(env, tmp_path / "second.log")
    try:
        _wait_for_table(again, tmp_path / "second.log")
        conversations = httpx.get(f"{gateway}/v1/conversations", headers=_login(gateway, env)).json()["data"]
        assert [c["contact"]["wa_id"] for c in conversations] == ["5511988887777"]
    finally:
        _stop(again)
