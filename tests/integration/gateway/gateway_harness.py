"""Helpers of the gateway tests: credentials, logging in, extra gateway processes, a fake upstream."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import jwt

from parley.devstack.catalog import SERVICES
from parley.devstack.stack import Platform

GATEWAY = next(spec for spec in SERVICES if spec.name == "gateway")


@dataclass(frozen=True)
class Credentials:
    email: str
    password: str
    tenant_id: uuid.UUID


async def login(client: httpx.AsyncClient, who: Credentials) -> str:
    response = await client.post("/v1/auth/login", json={"email": who.email, "password": who.password})
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class RecordingUpstream:
    """A stand-in conversation service that records what reaches it and answers with a fixed reply."""

    status: int = 200
    body: dict[str, object] = field(default_factory=lambda: {"data": [{"id": "c-1"}], "next_cursor": "abc"})
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    url: str = ""

    def serve(self) -> ThreadingHTTPServer:
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                status, body = (200, {"status": "ready"}) if self.path == "/readyz" else (upstream.status,
                                                                                           upstream.body)
                if self.path != "/readyz":
                    upstream.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *_: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{server.server_address[1]}"
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server


def start_gateway(platform: Platform, name: str, service_urls: str | None = None,
                  **extra_env: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**platform.service_env(GATEWAY), "GATEWAY_PORT": str(port), **extra_env}
    if service_urls is not None:
        env["GATEWAY_SERVICE_URLS"] = service_urls
    log = open(platform.state_dir / "logs" / f"{name}.log", "ab")  # noqa: SIM115 - owned by the child
    process = subprocess.Popen([sys.executable, "-m", "parley.gateway"], env=env, stdout=log,
                               stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    return process, f"http://127.0.0.1:{port}"


def wait_alive(process: subprocess.Popen[bytes], url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, f"gateway exited with {process.returncode}"
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{url} not alive after {timeout}s")


@dataclass
class ProxyRig:
    """Gateways of our own: one in front of a recording upstream, one in front of nothing."""

    upstream: RecordingUpstream
    to_upstream: str
    to_nowhere: str


@dataclass(frozen=True)
class Account:
    """A tenant signed up through the public API, with its owner's session."""

    credentials: Credentials
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.access_token}"}


async def sign_up(client: httpx.AsyncClient, name: str = "Acme") -> Account:
    email, password = f"owner-{uuid.uuid4().hex[:10]}@example.com", f"pw-{uuid.uuid4().hex}"
    response = await client.post("/v1/auth/signup", json={"tenant_name": name, "email": email, "password": password})
    assert response.status_code == 201, response.text
    body = response.json()
    tenant_id = uuid.UUID(decode_claims(body["access_token"])["tid"])
    return Account(Credentials(email, password, tenant_id), body["access_token"], body["refresh_token"])


def decode_claims(token: str) -> dict[str, object]:
    return jwt.decode(token, options={"verify_signature": False})


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, object]:
    """The response is the standard error shape with this status and code; returns the error object."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is False and body["error"]["code"] == code, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert "details" in body["error"]
    return body["error"]
