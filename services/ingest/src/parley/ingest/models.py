"""Tables of the ingest service, all in its own ``ingest`` schema."""

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import DateTime, Index, LargeBinary, String, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from parley.kit.db import declarative_base
from parley.kit.eventstore import define_kit_tables

Base = declarative_base("ingest")
metadata = Base.metadata
kit_tables = define_kit_tables(metadata)


class WebhookRecord(Base):
    """A webhook exactly as it arrived: the raw bytes, so its signature can be checked again later."""

    __tablename__ = "webhook_events"

    id: Mapped[UUID] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    body: Mapped[bytes] = mapped_column(LargeBinary)
    headers: Mapped[dict[str, Any]] = mapped_column(JSONB)
    content_sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int]
    status: Mapped[str] = mapped_column(String(16), default="received")
    status_reason: Mapped[str | None] = mapped_column(String(2000))
    processed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    tenant_id: Mapped[UUID | None] = mapped_column(comment="Known at receipt for generic hooks only")
    hook_id: Mapped[UUID | None]

    __table_args__ = (
        Index("ix_webhook_events_status_received_at", "status", "received_at"),
        Index("ix_webhook_events_received_at", "received_at"),
    )


class ChannelRoute(Base):
    """Which tenant owns a business number; projected from channel events."""

    __tablename__ = "channel_routes"

    phone_number_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[UUID]
    waba_id: Mapped[str | None] = mapped_column(String(64))
    display_phone_number: Mapped[str | None] = mapped_column(String(32))
    active: Mapped[bool]
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ParkedWebhook(Base):
    """A webhook for a number nobody has registered yet, kept until a channel claims the number."""

    __tablename__ = "parked_webhooks"

    webhook_id: Mapped[UUID] = mapped_column(primary_key=True)
    phone_number_id: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)
    parked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
