"""The hottest route, ``POST /webhooks/whatsapp``, served in front of FastAPI.

Meta sends every message and status here, so per-request overhead is capacity. This plain ASGI
handler skips routing, dependency solving and the middleware stack but runs the same checks
(``accept_notification``), answers in the same shapes, continues the caller's trace and records
the same metrics. Anything else goes to the FastAPI app unchanged.
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.trace import Status, StatusCode
from starlette.types import ASGIApp, Receive, Scope, Send

from parley.ingest.endpoints import Answer, accept_notification
from parley.ingest.intake import WebhookIntake
from parley.ingest.settings import IngestSettings
from parley.kit import metrics
from parley.kit.telemetry import tracer

ROUTE = "/webhooks/whatsapp"
_SPAN_NAME = f"POST {ROUTE}"
_SPAN_ATTRIBUTES = {"http.request.method": "POST", "http.route": ROUTE}
_JSON = (b"content-type", b"application/json")


async def _read_body(scope: Scope, receive: Receive, limit: int) -> bytes | None:
    """The whole body, or None as soon as it is known to exceed ``limit`` (nothing more is buffered)."""
    for name, value in scope["headers"]:
        if name == b"content-length" and value.isdigit() and int(value) > limit:
            return None
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"".join(chunks)
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _traceparent(span: trace.Span) -> str | None:
    """The W3C traceparent of ``span``, as the propagator would inject it (without making it current)."""
    context = span.get_span_context()
    if not context.is_valid:
        return None
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"


def _child_of(headers: dict[str, str]) -> str:
    """A traceparent for this request without an SDK span: the caller's trace (or a new one), a new span id."""
    span_id = secrets.token_hex(8)
    if "traceparent" in headers:
        parent = trace.get_current_span(propagate.extract(headers)).get_span_context()
        if parent.is_valid:
            return f"00-{parent.trace_id:032x}-{span_id}-{parent.trace_flags:02x}"
    return f"00-{secrets.token_hex(16)}-{span_id}-01"


def _encode(answer: Answer) -> bytes:
    if answer.status == 200 and len(answer.body) == 2 and "webhook_id" in answer.body:  # the hot answer
        return b'{"success":true,"webhook_id":"' + str(answer.body["webhook_id"]).encode() + b'"}'
    return json.dumps(answer.body, separators=(",", ":")).encode()


class WebhookFastPath:
    def __init__(self, app: ASGIApp, settings: IngestSettings, intake: WebhookIntake) -> None:
        self.app = app
        self.settings = settings
        self.intake = intake
        self._tracer: trace.Tracer | None = None
        self.exporting = bool(settings.otel_exporter_otlp_endpoint)
        self._latency = metrics.HTTP_LATENCY.labels("POST", ROUTE)
        self._requests: dict[int, Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != ROUTE:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}
        if not self.exporting:
            # No span exporter configured: a span would be built and thrown away (~15% of the CPU per webhook).
            # The event still gets a traceparent continuing the caller's trace, so logs downstream correlate.
            body = await _read_body(scope, receive, self.settings.max_body_bytes)
            answer = await accept_notification(body, headers, self.settings, self.intake, _child_of(headers))
        else:
            answer = await self._traced(scope, receive, headers)
        raw = _encode(answer)
        response_headers = [_JSON, (b"content-length", str(len(raw)).encode())]
        if answer.headers:
            response_headers += [(k.lower().encode(), v.encode()) for k, v in answer.headers.items()]
        await send({"type": "http.response.start", "status": answer.status, "headers": response_headers})
        await send({"type": "http.response.body", "body": raw})
        counter = self._requests.get(answer.status)
        if counter is None:
            counter = self._requests[answer.status] = metrics.HTTP_REQUESTS.labels("POST", ROUTE, str(answer.status))
        counter.inc()
        self._latency.observe(time.perf_counter() - started)

    async def _traced(self, scope: Scope, receive: Receive, headers: dict[str, str]) -> Answer:
        if self._tracer is None:  # the provider is installed when the app is built, before the first request
            self._tracer = tracer()
        # A span per request, continuing the caller's trace; not made current (nothing below opens spans), which
        # saves attaching and detaching contexts. Its traceparent goes into the event like current_traceparent().
        span = self._tracer.start_span(
            _SPAN_NAME, context=propagate.extract(headers) if "traceparent" in headers else None,
            kind=trace.SpanKind.SERVER, attributes=_SPAN_ATTRIBUTES)
        try:
            body = await _read_body(scope, receive, self.settings.max_body_bytes)
            answer = await accept_notification(body, headers, self.settings, self.intake, _traceparent(span))
            span.set_attribute("http.response.status_code", answer.status)
        except BaseException as exc:
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
            raise
        finally:
            span.end()
        return answer
