"""A throwaway platform for a benchmark: a fresh state directory, free ports, quiet logs."""

from __future__ import annotations

import os
import socket
import tempfile
from pathlib import Path

from parley.devstack.catalog import SERVICES
from parley.devstack.stack import Infra, InfraPorts, Platform


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def scratch_platform() -> Platform:
    """Not started: call ``platform.infra.start()`` and ``platform.prepare()``, and ``platform.stop()`` after."""
    state = Path(tempfile.mkdtemp(prefix="parley-bench-"))
    return Platform(state_dir=state, infra=Infra(state, InfraPorts(free_port(), free_port(), free_port())),
                    service_ports={s.name: free_port() for s in SERVICES},
                    environ={**os.environ, "LOG_LEVEL": "WARNING"})
