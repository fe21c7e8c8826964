"""Exports (`/v1/exports/{contacts,conversations,messages}`): CSV, a JSON array or NDJSON, streamed.

Rows come from a server-side cursor (``export_rows``) inside the response's own transaction and are
written out in chunks of about ``CHUNK_BYTES`` as they arrive: nothing holds the whole export in memory.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncSession

from parley.conversation import export_rows, repository
from parley.conversation.export_rows import COLUMNS, Assignment, ContactFilters, ConversationFilters, MessageFilters
from parley.conversation.sealing import Sealer
from parley.conversation.service import visibility
from parley.kit.auth import CurrentPrincipal, Principal
from parley.kit.errors import DomainError, NotFound
from parley.kit.service import CurrentService, Service, TenantSession

router = APIRouter(prefix="/v1/exports", tags=["exports"])

Format = Literal["csv", "json", "ndjson"]
RowSource = Callable[[AsyncSession], AsyncIterator[dict[str, Any]]]

CHUNK_BYTES = 64 * 1024
MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "json": "application/json", "ndjson": "application/x-ndjson"}
EXPORTED_ROWS = Counter("parley_conversation_exported_rows_total", "Rows written to exports",
                        ["entity", "format"])
#: Spreadsheet apps run cells starting with these as formulas: such CSV cells get a leading apostrophe.
_FORMULA_START = frozenset("=+-@\t\r")


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, UUID | Decimal):
        return str(value)
    return value


def _csv_cell(value: Any) -> str:
    kind = type(value)
    if kind is str:
        return "'" + value if value[:1] in _FORMULA_START else value
    if value is None:
        return ""
    if kind is bool:
        return "true" if value else "false"
    if kind is datetime:
        return value.isoformat()
    if kind is dict or kind is list:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return _csv_cell(str(value))


class _Encoder:
    """Writes rows of one format (header and footer included) into a buffer the caller drains in chunks."""

    def __init__(self, fmt: Format, columns: tuple[str, ...]) -> None:
        self.fmt, self.columns, self.rows = fmt, columns, 0
        self._buffer = io.StringIO()
        self._csv = csv.writer(self._buffer, lineterminator="\r\n")
        if fmt == "csv":
            self._csv.writerow(columns)
        elif fmt == "json":
            self._buffer.write("[")

    @property
    def size(self) -> int:
        return self._buffer.tell()

    def write(self, row: dict[str, Any]) -> None:
        if self.fmt == "csv":
            self._csv.writerow([_csv_cell(row[c]) for c in self.columns])
        else:
            document = json.dumps({c: _plain(row[c]) for c in self.columns}, ensure_ascii=False)
            if self.fmt == "json":
                self._buffer.write(",\n" if self.rows else "\n")
                self._buffer.write(document)
            else:
                self._buffer.write(document + "\n")
        self.rows += 1

    def finish(self) -> None:
        if self.fmt == "json":
            self._buffer.write("\n]\n")

    def take(self) -> str:
        text = self._buffer.getvalue()
        self._buffer.seek(0)
        self._buffer.truncate()
        return text


async def _chunks(service: Service, tenant_id: UUID, source: RowSource, entity: str, fmt: Format
                  ) -> AsyncIterator[bytes]:
    """The export's bytes, read in the generator's own transaction (the request's has ended by now),
    scoped to the caller's tenant like the request's was (row-level security)."""
    encoder = _Encoder(fmt, COLUMNS[entity])
    counter = EXPORTED_ROWS.labels(entity, fmt)
    async with service.db.unit_of_work(tenant_id=tenant_id) as session:
        async for row in source(session):
            encoder.write(row)
            counter.inc()
            if encoder.size >= CHUNK_BYTES:
                yield encoder.take().encode()
    encoder.finish()
    yield encoder.take().encode()


def _sealer(service: Service) -> Sealer:
    """Bodies are sealed at rest (see sealing.py); exports open them with the tenant's key."""
    sealer = service.definition.extra_state["sealer"]
    assert isinstance(sealer, Sealer)
    return sealer


def _response(service: Service, tenant_id: UUID, source: RowSource, entity: str, fmt: Format) -> StreamingResponse:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    extension = {"csv": "csv", "json": "json", "ndjson": "ndjson"}[fmt]
    chunks = _chunks(service, tenant_id, source, entity, fmt)
    return StreamingResponse(chunks, media_type=MEDIA_TYPES[fmt], headers={
        "Content-Disposition": f'attachment; filename="{entity}-{stamp}.{extension}"',
        "Cache-Control": "no-store"})


def _check_range(start: datetime | None, end: datetime | None) -> None:
    if start and end and start >= end:
        raise DomainError("`from` must be before `to`", code="validation_error", status_code=422,
                          details=[{"loc": ["query", "from"], "msg": "must be before `to`"}])


async def _assignment(session: AsyncSession, principal: Principal, assignee: str | None) -> Assignment:
    """The ``assignee`` filter (a user id, ``me`` or ``none``) within what the caller may see (agents: their own
    conversations and their teams' unassigned ones)."""
    visible = await visibility(session, principal)
    if not assignee:
        return Assignment(visible=visible)
    if assignee == "none":
        return Assignment(unassigned=True, visible=visible)
    try:
        return Assignment(assignee_id=principal.user_id if assignee == "me" else UUID(assignee), visible=visible)
    except ValueError:
        raise DomainError("assignee is a user id, `me` or `none`", code="validation_error", status_code=422,
                          details=[{"loc": ["query", "assignee"], "msg": "not a user id, `me` or `none`"}]) from None


def _label(label: str | None) -> str | None:
    return label.strip().lower() or None if label else None


FormatQuery = Annotated[Format, Query(description="csv (with a header row), json (one array) or ndjson")]
From = Annotated[datetime | None, Query(alias="from", description="Inclusive lower bound (ISO 8601)")]
To = Annotated[datetime | None, Query(alias="to", description="Exclusive upper bound (ISO 8601)")]
Assignee = Annotated[str | None, Query(max_length=64, description="Conversations assigned to a user id, `me`, "
                                                                  "or `none` (unassigned)")]
Label = Annotated[str | None, Query(max_length=64)]


@router.get("/contacts", summary="Export contacts (filters: opted_out, blocked, q on number or name, the contact's "
                                 "label, assignee of one of its conversations)", response_class=StreamingResponse)
async def export_contacts(principal: CurrentPrincipal, service: CurrentService, session: TenantSession,
                          format: FormatQuery = "csv", opted_out: bool | None = None, blocked: bool | None = None,
                          q: Annotated[str | None, Query(max_length=100)] = None, label: Label = None,
                          assignee: Assignee = None) -> StreamingResponse:
    filters = ContactFilters(opted_out=opted_out, blocked=blocked, q=q or None, label=_label(label),
                             assignment=await _assignment(session, principal, assignee))
    tenant = principal.tenant_id
    return _response(service, tenant, lambda s: export_rows.contact_rows(s, tenant, filters), "contacts", format)


@router.get("/conversations", summary="Export conversations (filters: status, channel, opened from/to, label, "
                                      "assignee)", response_class=StreamingResponse)
async def export_conversations(
    principal: CurrentPrincipal, service: CurrentService, session: TenantSession, format: FormatQuery = "csv",
    status: Literal["open", "pending", "resolved", "snoozed"] | None = None,
    channel: Annotated[str | None, Query(max_length=64, description="The business number's phone_number_id")] = None,
    opened_from: From = None, opened_to: To = None, label: Label = None, assignee: Assignee = None,
) -> StreamingResponse:
    _check_range(opened_from, opened_to)
    filters = ConversationFilters(status=status, phone_number_id=channel, opened_from=opened_from,
                                  opened_to=opened_to, label=_label(label),
                                  assignment=await _assignment(session, principal, assignee))
    sealer = _sealer(service)
    tenant = principal.tenant_id
    return _response(service, tenant, lambda s: export_rows.conversation_rows(s, sealer, tenant, filters),
                     "conversations", format)


@router.get("/messages", summary="Export messages (filters: conversation_id, sent from/to, the conversation's "
                                 "label and assignee)", response_class=StreamingResponse)
async def export_messages(principal: CurrentPrincipal, service: CurrentService, session: TenantSession,
                          format: FormatQuery = "csv", conversation_id: UUID | None = None,
                          sent_from: From = None, sent_to: To = None, label: Label = None,
                          assignee: Assignee = None) -> StreamingResponse:
    _check_range(sent_from, sent_to)
    assignment = await _assignment(session, principal, assignee)
    if conversation_id and not await repository.conversation_visible(session, principal.tenant_id, conversation_id,
                                                                     assignment.visible):
        raise NotFound("no such conversation")
    filters = MessageFilters(conversation_id=conversation_id, sent_from=sent_from, sent_to=sent_to,
                             label=_label(label), assignment=assignment)
    sealer = _sealer(service)
    tenant = principal.tenant_id
    return _response(service, tenant, lambda s: export_rows.message_rows(s, sealer, tenant, filters),
                     "messages", format)
