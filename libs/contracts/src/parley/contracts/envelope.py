"""The CloudEvents 1.0 envelope every Parley event travels in."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import uuid6
from pydantic import BaseModel, ConfigDict, Field

SPEC_VERSION = "1.0"


def new_event_id() -> UUID:
    """A UUIDv7: time-ordered, so ids sort roughly by creation time."""
    return uuid6.uuid7()


def utcnow() -> datetime:
    return datetime.now(UTC)


class Envelope(BaseModel):
    """CloudEvents attributes plus Parley extensions around a typed ``data`` payload.

    ``tenantid``, ``traceparent`` and ``schemaversion`` are CloudEvents extension
    attributes (lower-case alphanumerics, as the spec requires).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    specversion: str = SPEC_VERSION
    id: UUID = Field(default_factory=new_event_id)
    type: str = Field(description="Event type, e.g. message.received")
    source: str = Field(description="URI-reference of the producing service, e.g. /parley/ingest")
    time: datetime = Field(default_factory=utcnow)
    subject: str | None = Field(default=None, description="The aggregate the event is about")
    datacontenttype: str = "application/json"
    tenantid: UUID | None = Field(default=None, description="Owning tenant; None only for platform events")
    traceparent: str | None = Field(default=None, description="W3C trace context of the producing span")
    schemaversion: int = Field(default=1, ge=1)
    data: dict[str, Any]

    def payload(self) -> BaseModel:
        """Parse ``data`` into the typed payload model registered for (type, schemaversion)."""
        from parley.contracts.registry import payload_model

        return payload_model(self.type, self.schemaversion).model_validate(self.data)

    @classmethod
    def wrap(
        cls,
        payload: BaseModel,
        *,
        source: str,
        tenant_id: UUID | None,
        subject: str | None = None,
        traceparent: str | None = None,
        time: datetime | None = None,
    ) -> Envelope:
        """Wrap a registered payload model in an envelope carrying its type and version."""
        from parley.contracts.registry import spec_for_model

        spec = spec_for_model(type(payload))
        return cls(
            type=spec.type,
            schemaversion=spec.version,
            source=source,
            subject=subject,
            tenantid=tenant_id,
            traceparent=traceparent,
            time=time or utcnow(),
            data=payload.model_dump(mode="json", exclude_none=True),
        )
