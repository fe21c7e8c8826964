"""JSON log lines carry the trace id and the tenant id of the work that wrote them."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any
from uuid import uuid4

import pytest
import structlog
from opentelemetry.sdk.trace import TracerProvider

from parley.kit.telemetry import get_logger, setup_logging, tenant_context


class JsonLogs:
    """The kit's logging set up as a service does it, read back line by line."""

    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self.capsys = capsys

    def start(self) -> None:
        # Called in the test's own phase: the handler binds the stderr that capsys captures there.
        setup_logging("kit-unit", "INFO")

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.capsys.readouterr().err.splitlines() if line.strip()]


@pytest.fixture
def json_logs(capsys: pytest.CaptureFixture[str]) -> Iterator[JsonLogs]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        yield JsonLogs(capsys)
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        structlog.reset_defaults()


def test_log_lines_inside_a_span_and_tenant_carry_both_ids(json_logs: JsonLogs) -> None:
    json_logs.start()
    tenant = uuid4()
    with TracerProvider().get_tracer("kit-unit").start_as_current_span("handle webhook") as span, \
            tenant_context(tenant):
        get_logger("parley.kit.unit").info("webhook stored", wamid="wamid.X")
        logging.getLogger("aiokafka.unit").warning("a library line")
    trace_id = format(span.get_span_context().trace_id, "032x")

    ours, library = json_logs.lines()
    assert ours["event"] == "webhook stored"
    assert ours["wamid"] == "wamid.X"
    assert (ours["trace_id"], ours["tenant_id"], ours["service"]) == (trace_id, str(tenant), "kit-unit")
    assert ours["level"] == "info"
    assert library["event"] == "a library line"
    assert (library["trace_id"], library["tenant_id"]) == (trace_id, str(tenant))


def test_log_lines_outside_any_span_or_tenant_have_neither(json_logs: JsonLogs) -> None:
    json_logs.start()
    with tenant_context(None):
        get_logger("parley.kit.unit").info("platform event")

    [line] = json_logs.lines()
    assert line["event"] == "platform event"
    assert "trace_id" not in line and "tenant_id" not in line


def test_tenant_context_ends_with_its_block(json_logs: JsonLogs) -> None:
    json_logs.start()
    with tenant_context(uuid4()):
        pass
    get_logger("parley.kit.unit").info("after the tenant's work")

    [line] = json_logs.lines()
    assert "tenant_id" not in line
