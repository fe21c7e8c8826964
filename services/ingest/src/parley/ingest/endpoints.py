"""Meta's webhook endpoint: verification handshake and signed notifications."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import Counter

from parley.ingest import normalizer, service
from parley.ingest.intake import IntakeUnavailable, WebhookIntake
from parley.ingest.settings import IngestSettings
from parley.kit.errors import DomainError, error_response
from parley.kit.service import CurrentService

router = APIRouter(tags=["webhooks"])

REQUESTS = Counter("parley_ingest_webhook_requests_total", "WhatsApp webhook POSTs by outcome", ["outcome"])
VERIFICATIONS = Counter("parley_ingest_verifications_total", "Subscription handshakes by outcome", ["outcome"])


class PayloadTooLarge(DomainError):
    code = "payload_too_large"
    status_code = 413


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


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"the body exceeds {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"the body exceeds {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


@router.post("/webhooks/whatsapp", summary="Signed WhatsApp notifications, stored before the 200")
async def receive_notification(request: Request, service_: CurrentService) -> JSONResponse:
    settings: IngestSettings = service_.settings  # type: ignore[assignment]
    try:
        body = await _read_body(request, settings.max_body_bytes)
    except PayloadTooLarge as exc:
        REQUESTS.labels("too_large").inc()
        return error_response(exc.code, exc.message, exc.status_code)
    signature = request.headers.get("x-hub-signature-256")
    if not signature:
        REQUESTS.labels("signature_missing").inc()
        return error_response("signature_missing", "the X-Hub-Signature-256 header is required", 401)
    secrets = [s.get_secret_value() for s in settings.app_secrets]
    if not service.signature_matches(body, signature, secrets):
        REQUESTS.labels("signature_invalid").inc()
        return error_response("signature_invalid", "the signature does not match the body", 403)
    payload = service.parse_json(body)
    intake: WebhookIntake = request.app.state.intake
    try:
        webhook_id = await intake.submit("whatsapp", body, request.headers, payload=payload,
                                         phone_number_ids=normalizer.phone_number_ids(payload),
                                         inline_limit=settings.inline_payload_bytes)
    except IntakeUnavailable:
        REQUESTS.labels("unavailable").inc()
        return error_response("unavailable", "the webhook could not be stored; retry", 503,
                              headers={"Retry-After": "1"})
    REQUESTS.labels("stored").inc()
    return JSONResponse({"success": True, "webhook_id": str(webhook_id)})
