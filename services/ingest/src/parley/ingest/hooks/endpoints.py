"""Inbound hooks over HTTP: the tenant API (``/v1/hooks``, JWT) and the receiver (``POST /hooks/{id}``, signed)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import Counter

from parley.ingest.hooks import payloads, service
from parley.ingest.hooks.models import InboundHook, data_keys
from parley.ingest.hooks.schemas import HookCreate, HookOut, HookUpdate, HookWithSecret, SecretRotation, SignatureOut
from parley.ingest.intake import IntakeUnavailable
from parley.kit.auth import CurrentPrincipal
from parley.kit.crypto import TenantCipher, load_keyring
from parley.kit.errors import DomainError, NotFound, error_response
from parley.kit.http import read_body
from parley.kit.pagination import InvalidCursor, Page, PageInfo, decode_cursor, encode_cursor
from parley.kit.service import CurrentService, TenantSession

router = APIRouter(tags=["inbound hooks"])

DELIVERIES = Counter("parley_ingest_hook_deliveries_total", "Inbound hook deliveries by outcome", ["outcome"])

Limit = Annotated[int, Query(ge=1, le=200)]


def get_cipher(request: Request) -> TenantCipher:
    """The service's tenant cipher (``app.state.tenant_cipher``), built from its settings on first use."""
    cipher = getattr(request.app.state, "tenant_cipher", None)
    if cipher is None:
        cipher = request.app.state.tenant_cipher = build_cipher(request.app.state.settings)
    return cipher


def build_cipher(settings: object) -> TenantCipher:
    """For ``extra_state={"tenant_cipher": ...}``: fails at start-up on a missing or malformed master key."""
    return TenantCipher(load_keyring(settings), data_keys)


Cipher = Annotated[TenantCipher, Depends(get_cipher)]


def _out(hook: InboundHook) -> HookOut:
    return HookOut(
        id=hook.id, name=hook.name, event=hook.event, mapping=hook.mapping,  # type: ignore[arg-type]
        signature=SignatureOut(scheme=hook.signature_scheme, header=hook.signature_header,  # type: ignore[arg-type]
                               encoding=hook.signature_encoding, prefix=hook.signature_prefix),
        default_region=hook.default_region, active=hook.active, receive_path=f"/hooks/{hook.id}",
        previous_secret_expires_at=hook.previous_secret_expires_at, created_at=hook.created_at,
        updated_at=hook.updated_at,
    )


@router.post("/v1/hooks", status_code=201, response_model=HookWithSecret,
             summary="Create an inbound hook; its secret is shown in this response only")
async def create_hook(body: HookCreate, principal: CurrentPrincipal, session: TenantSession, service_: CurrentService,
                      cipher: Cipher) -> HookWithSecret:
    hook, secret = await service.create_hook(session, service_.store, cipher, principal, body)
    return HookWithSecret(**_out(hook).model_dump(), secret=secret)


@router.get("/v1/hooks", response_model=Page[HookOut], summary="The tenant's inbound hooks, newest first")
async def list_hooks(principal: CurrentPrincipal, session: TenantSession, limit: Limit = 20,
                     cursor: str | None = None) -> Page[HookOut]:
    before = None
    if cursor is not None:
        try:
            before = UUID(decode_cursor(cursor, 1)[0])
        except ValueError:
            raise InvalidCursor("the cursor is not one this API issued") from None
    rows = await service.list_hooks(session, principal, limit=limit, before=before)
    page = rows[:limit]
    next_cursor = encode_cursor(page[-1].id) if len(rows) > limit else None
    return Page(data=[_out(h) for h in page],
                pagination=PageInfo(limit=limit, has_more=next_cursor is not None, next_cursor=next_cursor))


@router.get("/v1/hooks/{hook_id}", response_model=HookOut, summary="One inbound hook (never its secret)")
async def get_hook(hook_id: UUID, principal: CurrentPrincipal, session: TenantSession) -> HookOut:
    return _out(await service.get_hook(session, principal, hook_id))


@router.patch("/v1/hooks/{hook_id}", response_model=HookOut,
              summary="Change a hook's name, event, mapping, default region or active flag")
async def update_hook(hook_id: UUID, body: HookUpdate, principal: CurrentPrincipal, session: TenantSession,
                      service_: CurrentService) -> HookOut:
    return _out(await service.update_hook(session, service_.store, principal, hook_id, body))


@router.post("/v1/hooks/{hook_id}/rotate-secret", response_model=HookWithSecret,
             summary="Issue a new secret (shown once); the previous one works for the grace period")
async def rotate_secret(hook_id: UUID, principal: CurrentPrincipal, session: TenantSession, service_: CurrentService,
                        cipher: Cipher, body: SecretRotation | None = None) -> HookWithSecret:
    hook, secret = await service.rotate_secret(session, service_.store, cipher, principal, hook_id,
                                               body or SecretRotation())
    return HookWithSecret(**_out(hook).model_dump(), secret=secret)


@router.delete("/v1/hooks/{hook_id}", status_code=204, summary="Delete a hook; its URL stops accepting deliveries")
async def delete_hook(hook_id: UUID, principal: CurrentPrincipal, session: TenantSession,
                      service_: CurrentService) -> Response:
    await service.delete_hook(session, service_.store, principal, hook_id)
    return Response(status_code=204)


@router.post("/hooks/{hook_id}", summary="A tenant's signed hook delivery (JSON or form), stored before the 200")
async def receive_delivery(hook_id: str, request: Request, service_: CurrentService, cipher: Cipher) -> JSONResponse:
    settings = service_.settings
    try:
        body = await read_body(request, settings.max_body_bytes)  # type: ignore[attr-defined]
        # The hook id names the tenant: it is looked up across tenants (system scope), then its signature decides.
        async with service_.db.unit_of_work(system=True) as session:
            hook = await service.authenticate(session, cipher, _hook_uuid(hook_id), body, request.headers)
    except DomainError as exc:
        DELIVERIES.labels(exc.code).inc()
        return error_response(exc.code, exc.message, exc.status_code)
    content_type = request.headers.get("content-type")
    try:
        webhook_id = await request.app.state.intake.submit(
            "generic", body, request.headers, payload=payloads.try_parse(body, content_type), phone_number_ids=[],
            inline_limit=settings.inline_payload_bytes, tenant_id=hook.tenant_id,  # type: ignore[attr-defined]
            hook_id=hook.id, hook_name=hook.name,
        )
    except IntakeUnavailable as exc:
        DELIVERIES.labels("unavailable").inc()
        return error_response("unavailable", f"the delivery was not stored, retry: {exc}", 503)
    DELIVERIES.labels("stored").inc()
    return JSONResponse({"success": True, "webhook_id": str(webhook_id)})


def _hook_uuid(hook_id: str) -> UUID:
    try:
        return UUID(hook_id)
    except ValueError:
        raise NotFound("no such hook", code="hook_not_found") from None


