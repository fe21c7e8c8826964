"""The hottest route, ``POST /webhooks/whatsapp``, served in front of FastAPI.

Meta sends every message and status here, so per-request overhead is capacity. This plain ASGI
handler skips routing and dependency solving but runs the same checks (``accept_notification``),
answers in the same shapes, continues the caller's trace and records the same metrics. Anything
else goes to the FastAPI app unchanged.
"""

from __future__ import annotations

import json
import time

from opentelemetry import propagate, trace
from starlette.types import ASGIApp, Receive, Scope, Send

from parley.ingest.endpoints import accept_notification
from parley.ingest.intake import WebhookIntake
from parley.ingest.settings import IngestSettings
from parley.kit import metrics
from parley.kit.telemetry import tracer

ROUTE = "/webhooks/whatsapp"


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


class WebhookFastPath:
    def __init__(self, app: ASGIApp, settings: IngestSettings, intake: WebhookIntake) -> None:
        self.app = app
        self.settings = settings
        self.intake = intake

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != ROUTE:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}
        with tracer().start_as_current_span(f"POST {ROUTE}", context=propagate.extract(headers),
                                            kind=trace.SpanKind.SERVER,
                                            attributes={"http.request.method": "POST", "http.route": ROUTE}) as span:
            body = await _read_body(scope, receive, self.settings.max_body_bytes)
            answer = await accept_notification(body, headers, self.settings, self.intake)
            span.set_attribute("http.response.status_code", answer.status)
        raw = json.dumps(answer.body, separators=(",", ":")).encode()
        response_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode())]
        response_headers += [(k.lower().encode(), v.encode()) for k, v in answer.headers.items()]
        await send({"type": "http.response.start", "status": answer.status, "headers": response_headers})
        await send({"type": "http.response.body", "body": raw})
        metrics.HTTP_REQUESTS.labels("POST", ROUTE, str(answer.status)).inc()
        metrics.HTTP_LATENCY.labels("POST", ROUTE).observe(time.perf_counter() - started)
