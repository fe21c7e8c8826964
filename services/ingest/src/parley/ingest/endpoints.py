"""Meta's webhook endpoint: verification handshake and signed notifications."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import Counter

from parley.ingest import normalizer, service
from parley.ingest.intake import IntakeUnavailable, WebhookIntake
from parley.ingest.settings import IngestSettings
from parley.kit.errors import PayloadTooLarge, error_body
from parley.kit.http import read_body
from parley.kit.service import CurrentService

router = APIRouter(tags=["webhooks"])

REQUESTS = Counter("parley_ingest_webhook_requests_total", "WhatsApp webhook POSTs by outcome", ["outcome"])
_STORED = REQUESTS.labels("stored")
VERIFICATIONS = Counter("parley_ingest_verifications_total", "Subscription handshakes by outcome", ["outcome"])


@router.get("/webhooks/whatsapp", response_class=PlainTextResponse,
            summary="Meta's subscription handshake: echo the challenge when the verify token matches")
async def verify_subscription(
    service_: CurrentService,
    mode: Annotated[str | None, Query(alias="hub.mode")] = None,
    token: Annotated[str | None, Query(alias="hub.verify_token")] = None,
    challenge: Annotated[str | None, Query(alias="hub.challenge")] = None,
) -> PlainTextResponse:
    settings: IngestSettings = service_.settings  # type: ignore[assignment]
    expected = settings.verify_token.get_secret_value().encode()
    if mode == "subscribe" and token is not None and challenge is not None \
            and hmac.compare_digest(token.encode(), expected):
        VERIFICATIONS.labels("verified").inc()
        return PlainTextResponse(challenge, status_code=200)
    VERIFICATIONS.labels("refused").inc()
    return PlainTextResponse("verification failed", status_code=403)


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, object]
    headers: dict[str, str] = field(default_factory=dict)


def _refuse(outcome: str, code: str, message: str, status: int, headers: dict[str, str] | None = None) -> Answer:
    REQUESTS.labels(outcome).inc()
    return Answer(status, error_body(code, message), headers or {})


async def accept_notification(body: bytes | None, headers: Mapping[str, str], settings: IngestSettings,
                              intake: WebhookIntake, traceparent: str | None = None) -> Answer:
    """Every check and the durable store of one WhatsApp POST; ``body`` is None when it was over the limit.

    Shared by the FastAPI route and the ASGI fast path, so both answer exactly alike. ``traceparent`` is the
    request's span (the active span's when omitted).
    """
    if body is None:
        return _refuse("too_large", "payload_too_large", f"the body exceeds {settings.max_body_bytes} bytes", 413)
    signature = headers.get("x-hub-signature-256")
    if not signature:
        return _refuse("signature_missing", "signature_missing", "the X-Hub-Signature-256 header is required", 401)
    if not service.signature_matches(body, signature, settings.app_secret_values):
        return _refuse("signature_invalid", "signature_invalid", "the signature does not match the body", 403)
    payload = service.parse_json(body)
    try:
        webhook_id = await intake.submit("whatsapp", body, headers, payload=payload,
                                         phone_number_ids=normalizer.phone_number_ids(payload),
                                         inline_limit=settings.inline_payload_bytes, traceparent=traceparent)
    except IntakeUnavailable:
        return _refuse("unavailable", "unavailable", "the webhook could not be stored; retry", 503,
                       {"Retry-After": "1"})
    _STORED.inc()
    return Answer(200, {"success": True, "webhook_id": str(webhook_id)})


@router.post("/webhooks/whatsapp", summary="Signed WhatsApp notifications, stored before the 200")
async def receive_notification(request: Request, service_: CurrentService) -> JSONResponse:
    """Served by ``fastpath.WebhookFastPath`` in front of FastAPI; this route documents it and backs it up."""
    settings: IngestSettings = service_.settings  # type: ignore[assignment]
    try:
        body: bytes | None = await read_body(request, settings.max_body_bytes)
    except PayloadTooLarge:
        body = None
    answer = await accept_notification(body, request.headers, settings, request.app.state.intake)
    return JSONResponse(answer.body, status_code=answer.status, headers=answer.headers)
