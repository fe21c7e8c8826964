"""Tables of the CRM features (pipeline, consent, blocklist), projections of their events, in the service's schema."""

from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from sqlalchemy import DateTime, Index, Numeric, String, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from parley.conversation.models import Base


class PipelineStage(Base):
    __tablename__ = "pipeline_stages"

    id: Mapped[UUID] = mapped_column(primary_key=True)
    tenant_id: Mapped[UUID]
    name: Mapped[str] = mapped_column(String(80))
    position: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    # Positions are dense per tenant; checked at commit so a reorder can shift them in steps.
    __table_args__ = (
        UniqueConstraint("tenant_id", "position", deferrable=True, initially="DEFERRED"),
        UniqueConstraint("tenant_id", "name"),
    )


class PipelineLead(Base):
    __tablename__ = "pipeline_leads"

    id: Mapped[UUID] = mapped_column(primary_key=True)
    tenant_id: Mapped[UUID]
    contact_id: Mapped[UUID]
    wa_id: Mapped[str] = mapped_column(String(32))
    stage_id: Mapped[UUID]
    position: Mapped[int]
    title: Mapped[str | None] = mapped_column(String(200))
    value: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    currency: Mapped[str | None] = mapped_column(String(3))
    owner_id: Mapped[UUID | None]
    custom_fields: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        UniqueConstraint("tenant_id", "contact_id"),
        UniqueConstraint("stage_id", "position", deferrable=True, initially="DEFERRED"),
        Index("ix_pipeline_leads_tenant_stage_position", "tenant_id", "stage_id", "position"),
    )


class ContactConsent(Base):
    """Latest consent change per customer; ``changed_at`` (WhatsApp time) orders late keyword messages."""

    __tablename__ = "contact_consents"

    tenant_id: Mapped[UUID] = mapped_column(primary_key=True)
    wa_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    opted_out: Mapped[bool]
    source: Mapped[str] = mapped_column(String(16))
    keyword: Mapped[str | None] = mapped_column(String(64))
    wamid: Mapped[str | None] = mapped_column(String(256))
    reason: Mapped[str | None] = mapped_column(String(500))
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_contact_consents_opted_out", "tenant_id", "changed_at", "wa_id",
                            postgresql_where="opted_out"),)


class OptOutKeywords(Base):
    """A tenant's keyword configuration; no row means the built-in defaults."""

    __tablename__ = "opt_out_keywords"

    tenant_id: Mapped[UUID] = mapped_column(primary_key=True)
    opt_out: Mapped[list[str]] = mapped_column(JSONB)
    opt_in: Mapped[list[str]] = mapped_column(JSONB)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class BlockedNumber(Base):
    __tablename__ = "blocked_numbers"

    tenant_id: Mapped[UUID] = mapped_column(primary_key=True)
    wa_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    reason: Mapped[str | None] = mapped_column(String(500))
    blocked_by: Mapped[UUID | None]
    blocked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_blocked_numbers_tenant_blocked_at", "tenant_id", "blocked_at", "wa_id"),)


CRM_TABLES = [PipelineLead.__table__, PipelineStage.__table__, ContactConsent.__table__, OptOutKeywords.__table__,
              BlockedNumber.__table__]
