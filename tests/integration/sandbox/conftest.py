"""One sandbox process for the module's tests, posting to an in-test webhook receiver."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import free_port
from tests.integration.sandbox.sandbox_process import SandboxProcess, WebhookReceiver


@pytest.fixture(scope="session")
def receiver() -> Iterator[WebhookReceiver]:
    server = WebhookReceiver()
    yield server
    server.close()


@pytest.fixture(scope="session")
def sandbox_process(receiver: WebhookReceiver, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxProcess]:
    env = {"SANDBOX_WEBHOOK_URL": receiver.url, "SANDBOX_STATUS_SENT_DELAY_MS": "20",
           "SANDBOX_STATUS_DELIVERED_DELAY_MS": "60", "SANDBOX_STATUS_READ_DELAY_MS": "100",
           "SANDBOX_WEBHOOK_RETRY_INITIAL_SECONDS": "0.1"}
    process = SandboxProcess(free_port(), env, tmp_path_factory.mktemp("sandbox") / "sandbox.log")
    yield process
    process.stop()


@pytest.fixture
def sandbox(sandbox_process: SandboxProcess, receiver: WebhookReceiver) -> Iterator[httpx.Client]:
    """A client of the shared sandbox, reset (and the receiver emptied) for this test."""
    with httpx.Client(base_url=sandbox_process.url, timeout=10) as client:
        client.post("/sandbox/reset", params={"registry": "true"}).raise_for_status()
        receiver.clear()
        yield client
