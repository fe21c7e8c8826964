"""The whole platform on one machine: infrastructure, provisioning, every service, demo data."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from parley.devstack import catalog
from parley.devstack.catalog import SERVICES, ServiceSpec
from parley.devstack.infra import Postgres, Tansu, Valkey, die_with_parent, port_open


@dataclass
class InfraPorts:
    postgres: int = 54329
    valkey: int = 16379
    kafka: int = 19092

    @classmethod
    def from_env(cls) -> InfraPorts:
        return cls(int(os.environ.get("PARLEY_PG_PORT", 54329)), int(os.environ.get("PARLEY_VALKEY_PORT", 16379)),
                   int(os.environ.get("PARLEY_KAFKA_PORT", 19092)))


@dataclass
class Infra:
    """Embedded servers, unless ``DATABASE_URL`` / ``REDIS_URL`` / ``KAFKA_BOOTSTRAP_SERVERS`` point elsewhere."""

    state_dir: Path
    ports: InfraPorts = field(default_factory=InfraPorts)
    environ: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    host: str = "127.0.0.1"
    admin_database_url: str = ""
    redis_url: str = ""
    kafka_bootstrap: str = ""
    embedded: list[str] = field(default_factory=list)
    _servers: list[Postgres | Valkey | Tansu] = field(default_factory=list)

    def start(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.admin_database_url = self.environ.get("DATABASE_URL", "")
        self.redis_url = self.environ.get("REDIS_URL", "")
        self.kafka_bootstrap = self.environ.get("KAFKA_BOOTSTRAP_SERVERS", "")
        try:
            if not self.admin_database_url:
                pg = self._launch(Postgres("postgres", self.host, self.ports.postgres, self.state_dir))
                self.admin_database_url = pg.admin_url
            if not self.redis_url:
                self.redis_url = self._launch(Valkey("valkey", self.host, self.ports.valkey, self.state_dir)).url
            if not self.kafka_bootstrap:
                tansu = self._launch(Tansu("tansu", self.host, self.ports.kafka, self.state_dir))
                self.kafka_bootstrap = tansu.bootstrap
        except BaseException:
            self.stop()
            raise

    def _launch(self, server: Any) -> Any:
        if port_open(server.host, server.port):
            raise PortBusy(f"port {server.port} for {server.name} is already in use")
        server.start()
        self._servers.append(server)
        self.embedded.append(server.name)
        return server

    @property
    def database_endpoint(self) -> tuple[str, int, str]:
        from sqlalchemy.engine import make_url

        url = make_url(self.admin_database_url)
        return url.host or "127.0.0.1", url.port or 5432, url.database or "parley"

    def stop(self) -> None:
        for server in reversed(self._servers):
            server.stop()
        self._servers.clear()


class PortBusy(RuntimeError):
    pass


def jwt_key_file(state_dir: Path) -> Path:
    """An Ed25519 signing key for development, generated once and kept in the state directory."""
    path = state_dir / "jwt-signing-key.pem"
    if not path.exists():
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        path.write_bytes(pem)
        path.chmod(0o600)
    return path


def demo_settings(environ: dict[str, str]) -> dict[str, str]:
    email = environ.get("PARLEY_DEMO_EMAIL", catalog.DEMO_EMAIL)
    return {
        "PARLEY_DEMO_EMAIL": email,
        "PARLEY_DEMO_PASSWORD": environ.get("PARLEY_DEMO_PASSWORD", catalog.DEMO_PASSWORD),
        "PARLEY_DEMO_TENANT_ID": str(uuid.uuid5(uuid.NAMESPACE_URL, f"parley-demo-tenant:{email}")),
        "PARLEY_DEMO_PHONE_NUMBER_ID": environ.get("PARLEY_DEMO_PHONE_NUMBER_ID", catalog.DEMO_PHONE_NUMBER_ID),
        "PARLEY_DEMO_WABA_ID": environ.get("PARLEY_DEMO_WABA_ID", catalog.DEMO_WABA_ID),
        "PARLEY_DEMO_DISPLAY_NUMBER": environ.get("PARLEY_DEMO_DISPLAY_NUMBER", catalog.DEMO_DISPLAY_NUMBER),
    }


@dataclass
class Platform:
    """Infrastructure plus every service as its own process (what ``make run`` and e2e tests start)."""

    state_dir: Path
    infra: Infra
    service_ports: dict[str, int]
    environ: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    host: str = "127.0.0.1"
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def url(self, service: str) -> str:
        return f"http://{self.host}:{self.service_ports[service]}"

    def database_password(self, spec: ServiceSpec) -> str:
        return self.environ.get(f"{spec.prefix}DATABASE_PASSWORD", catalog.dev_db_password(spec))

    def database_url(self, spec: ServiceSpec) -> str:
        host, port, database = self.infra.database_endpoint
        password = self.database_password(spec)
        return f"postgresql+asyncpg://{spec.role}:{password}@{host}:{port}/{database}?ssl=disable"

    def service_env(self, spec: ServiceSpec) -> dict[str, str]:
        env = {
            **self.environ,
            "PARLEY_ENV": self.environ.get("PARLEY_ENV", "development"),
            "KAFKA_BOOTSTRAP_SERVERS": self.infra.kafka_bootstrap,
            "REDIS_URL": self.infra.redis_url,
            f"{spec.prefix}DATABASE_URL": self.database_url(spec),
            f"{spec.prefix}HOST": self.host,
            f"{spec.prefix}PORT": str(self.service_ports[spec.name]),
            "PYTHONUNBUFFERED": "1",
        }
        env.pop("DATABASE_URL", None)
        if spec.name != "gateway":
            env[f"{spec.prefix}JWKS_URL"] = f"{self.url('gateway')}/.well-known/jwks.json"
        env.setdefault("SENDER_GRAPH_API_URL", f"{self.sandbox_url()}/v23.0")
        env.setdefault("INGEST_APP_SECRETS", catalog.DEV_APP_SECRET)
        env.setdefault("INGEST_VERIFY_TOKEN", catalog.DEV_VERIFY_TOKEN)
        env.setdefault("GATEWAY_JWT_PRIVATE_KEY_FILE", str(jwt_key_file(self.state_dir)))
        env["GATEWAY_SERVICE_URLS"] = ",".join(f"{s.name}={self.url(s.name)}" for s in SERVICES)
        env.update(demo_settings(self.environ))
        return env

    def prepare(self) -> None:
        """Roles, schemas and topics; idempotent."""
        from parley.kit.provision import Grant, provision
        from parley.kit.topics import ensure_topics

        grants = [Grant(s.role, self.database_password(s), s.schema) for s in SERVICES]
        asyncio.run(provision(self.infra.admin_database_url, grants))
        asyncio.run(ensure_topics(self.infra.kafka_bootstrap, replication=1, max_partitions=3,
                                  prefix=self.environ.get("KAFKA_TOPIC_PREFIX", "")))

    @property
    def sandbox_port(self) -> int:
        return int(self.environ.get("SANDBOX_PORT", catalog.SANDBOX_DEFAULT_PORT)) \
            if "sandbox" not in self.service_ports else self.service_ports["sandbox"]

    def start_sandbox(self) -> None:
        """The Cloud API sandbox, posting its signed webhooks to our ingest like Meta would."""
        logs = self.state_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        env = {**self.environ, "SANDBOX_HOST": self.host, "SANDBOX_PORT": str(self.sandbox_port),
               "SANDBOX_WEBHOOK_URL": f"{self.url('ingest')}/webhooks/whatsapp",
               "PYTHONUNBUFFERED": "1"}
        env.setdefault("SANDBOX_APP_SECRET", env.get("INGEST_APP_SECRETS", catalog.DEV_APP_SECRET).split(",")[0])
        log = open(logs / "sandbox.log", "ab")  # noqa: SIM115 - owned by the child
        self.processes["sandbox"] = subprocess.Popen(
            [sys.executable, "-m", "parley.sandbox"], env=env, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True, preexec_fn=die_with_parent())

    def sandbox_url(self) -> str:
        return f"http://{self.host}:{self.sandbox_port}"

    def start_services(self, only: list[str] | None = None, extra_env: dict[str, dict[str, str]] | None = None) -> None:
        logs = self.state_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        for spec in SERVICES:
            if only is not None and spec.name not in only:
                continue
            env = {**self.service_env(spec), **(extra_env or {}).get(spec.name, {})}
            log = open(logs / f"{spec.name}.log", "ab")  # noqa: SIM115 - owned by the child
            self.processes[spec.name] = subprocess.Popen(
                [sys.executable, "-m", f"parley.{spec.module}"], env=env, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True, preexec_fn=die_with_parent(),
            )

    def wait_ready(self, timeout: float = 120.0, only: list[str] | None = None) -> None:
        deadline = time.monotonic() + timeout
        pending = {name: (self.sandbox_url() if name == "sandbox" else self.url(name))
                   for name in self.processes if only is None or name in only}
        while pending and time.monotonic() < deadline:
            for name, base in list(pending.items()):
                process = self.processes[name]
                if process.poll() is not None:
                    raise RuntimeError(f"{name} exited with code {process.returncode}; see "
                                       f"{self.state_dir / 'logs' / (name + '.log')}")
                try:
                    if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                        del pending[name]
                except httpx.HTTPError:
                    pass
            time.sleep(0.25)
        if pending:
            raise RuntimeError(f"not ready after {timeout:.0f}s: {', '.join(pending)}")

    def seed_demo(self) -> None:
        """The demo tenant and owner (gateway) and its sandbox number (sender), seeded in parallel."""
        seeds = {}
        for name in ("gateway", "sender"):
            spec = next(s for s in SERVICES if s.name == name)
            seeds[name] = subprocess.Popen([sys.executable, "-m", f"parley.{spec.module}", "seed-demo"],
                                           env=self.service_env(spec), stdout=subprocess.PIPE,
                                           stderr=subprocess.STDOUT)
        for name, process in seeds.items():
            output, _ = process.communicate(timeout=120)
            if process.returncode != 0:
                raise RuntimeError(f"seeding the demo data in {name} failed:\n{output.decode(errors='replace')}")

    def stop_service(self, name: str, sig: int = signal.SIGTERM, timeout: float = 8.0) -> None:
        process = self.processes.pop(name, None)
        if process is None or process.poll() is not None:
            return
        process.send_signal(sig)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)

    def stop(self) -> None:
        """Services first (SIGTERM, then SIGKILL after the grace period), infrastructure last."""
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        deadline = time.monotonic() + 6
        for process in self.processes.values():
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(2)
        self.processes.clear()
        self.infra.stop()
