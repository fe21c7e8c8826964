"""The sandbox as a real process, and a tiny webhook receiver standing in for ingest."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import httpx

from parley.sandbox.notifications import signature_valid

APP_SECRET = "dev-only-app-secret"
TOKEN = "dev-only-sandbox-token"
NUMBER = "100000000000001"
T = TypeVar("T")


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def signed(self) -> bool:
        return signature_valid(self.body, self.headers.get("x-hub-signature-256"), APP_SECRET)

    def json(self) -> dict[str, Any]:
        return json.loads(self.body)


class WebhookReceiver:
    """Records every POST; answers with queued status codes, then 200."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._answers: list[int] = []
        self._received: list[Received] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                with receiver._lock:
                    receiver._received.append(Received({k.lower(): v for k, v in self.headers.items()}, body))
                    status = receiver._answers.pop(0) if receiver._answers else 200
                self.send_response(status)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/webhooks/whatsapp"

    def answer(self, *statuses: int) -> None:
        with self._lock:
            self._answers.extend(statuses)

    def clear(self) -> None:
        with self._lock:
            self._answers.clear()
            self._received.clear()

    @property
    def received(self) -> list[Received]:
        with self._lock:
            return list(self._received)

    def statuses(self) -> list[dict[str, Any]]:
        """Every status item received, in arrival order."""
        return [s for r in self.received for e in r.json()["entry"] for c in e["changes"]
                for s in c["value"].get("statuses", [])]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class SandboxProcess:
    """``python -m parley.sandbox`` on a free port, configured by environment only."""

    def __init__(self, port: int, env: dict[str, str], log_path: Path) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self._log = log_path.open("wb")
        environ = {**os.environ, "SANDBOX_PORT": str(port), "SANDBOX_HOST": "127.0.0.1", **env}
        self._process = subprocess.Popen([sys.executable, "-m", "parley.sandbox"], env=environ,
                                         stdout=self._log, stderr=subprocess.STDOUT)
        self.log_path = log_path
        wait_for(self._ready, within=30, what=f"the sandbox at {self.url} to be ready")

    def _ready(self) -> bool:
        if self._process.poll() is not None:
            raise RuntimeError(f"the sandbox exited: {self.log_path.read_text()}")
        try:
            return httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._log.close()


def wait_for(condition: Callable[[], T], *, within: float = 15.0, what: str = "condition") -> T:
    """Poll until ``condition()`` is truthy; generous deadlines, no timing assertions."""
    deadline = time.monotonic() + within
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)
