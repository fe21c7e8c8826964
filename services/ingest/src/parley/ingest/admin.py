"""Operator API of ingest: inspect stored webhooks (quarantine, parked) and replay them.

Protected by the operator token ``INGEST_ADMIN_TOKEN`` (platform staff, not tenants).
"""

from __future__ import annotations

import base64
import hmac
from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field, model_validator

from parley.ingest import repository, service
from parley.ingest.settings import IngestSettings
from parley.kit.auth import bearer_token
from parley.kit.errors import NotFound, Unauthorized
from parley.kit.pagination import Page, PageInfo, decode_cursor, encode_cursor
from parley.kit.service import CurrentService, Session

Status = Literal["received", "processed", "quarantined", "parked", "replaying"]


async def require_operator(request: Request) -> None:
    settings: IngestSettings = request.app.state.settings
    if not hmac.compare_digest(bearer_token(request).encode(), settings.admin_token.get_secret_value().encode()):
        raise Unauthorized("the operator token is not valid", code="invalid_token")


router = APIRouter(prefix="/admin", tags=["operations"], dependencies=[Depends(require_operator)])


class WebhookSummary(BaseModel):
    id: UUID
    kind: str
    status: str
    status_reason: str | None
    received_at: datetime
    processed_at: datetime | None
    size_bytes: int
    content_sha256: str
    tenant_id: UUID | None
    hook_id: UUID | None


class WebhookDetail(WebhookSummary):
    headers: dict[str, str]
    body_base64: str = Field(description="The raw body, byte-exact, so its signature can be verified again")


class ReplayRequest(BaseModel):
    """Exactly one selector: ids, a time range, or a status (e.g. everything quarantined)."""

    ids: list[UUID] | None = Field(default=None, max_length=10_000)
    received_from: datetime | None = None
    received_to: datetime | None = None
    status: Status | None = None

    @model_validator(mode="after")
    def _one_selector(self) -> ReplayRequest:
        chosen = [self.ids is not None, self.received_from is not None or self.received_to is not None,
                  self.status is not None]
        if sum(chosen) != 1:
            raise ValueError("give exactly one of: ids, received_from/received_to, status")
        return self


class ReplayResult(BaseModel):
    success: bool = True
    replayed: int


@router.get("/webhooks", response_model=Page[WebhookSummary], summary="Stored webhooks, newest first")
async def list_webhooks(session: Session, status: Status | None = None,
                        limit: Annotated[int, Query(ge=1, le=500)] = 50,
                        cursor: str | None = None) -> Page[WebhookSummary]:
    after = None
    if cursor:
        at, ident = decode_cursor(cursor, 2)
        after = (datetime.fromisoformat(at), UUID(ident))
    rows = await repository.list_webhooks(session, status=status, limit=limit, after=after)
    page = rows[:limit]
    next_cursor = encode_cursor(page[-1].received_at.isoformat(), page[-1].id) if len(rows) > limit else None
    return Page(data=[WebhookSummary.model_validate(r, from_attributes=True) for r in page],
                pagination=PageInfo(limit=limit, has_more=next_cursor is not None, next_cursor=next_cursor))


@router.get("/webhooks/{webhook_id}", response_model=WebhookDetail, summary="One stored webhook, with its raw body")
async def get_webhook(webhook_id: UUID, session: Session) -> WebhookDetail:
    record = await repository.get_webhook(session, webhook_id)
    if record is None:
        raise NotFound("no such webhook")
    summary = WebhookSummary.model_validate(record, from_attributes=True)
    return WebhookDetail(**summary.model_dump(), headers=record.headers,
                         body_base64=base64.b64encode(record.body).decode())


@router.post("/webhooks/replay", response_model=ReplayResult,
             summary="Publish stored webhooks again (downstream dedup makes it harmless)")
async def replay_webhooks(request: ReplayRequest, session: Session, service_: CurrentService) -> ReplayResult:
    ids = request.ids or await repository.select_webhook_ids(
        session, status=request.status, received_from=request.received_from, received_to=request.received_to)
    return ReplayResult(replayed=await service.replay(session, service_.store, ids))
