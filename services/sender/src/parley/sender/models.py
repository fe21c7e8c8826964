"""Tables of the sender service, all in its own ``sender`` schema."""

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Boolean, DateTime, Float, Index, Integer, LargeBinary, String, Text, UniqueConstraint, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from parley.kit.crypto import define_data_keys_table
from parley.kit.db import declarative_base
from parley.kit.eventstore import define_kit_tables

Base = declarative_base("sender")
metadata = Base.metadata
kit_tables = define_kit_tables(metadata)
data_keys = define_data_keys_table(metadata)


class Channel(Base):
    """A WhatsApp business number connected to a tenant (projection of channel events)."""

    __tablename__ = "channels"

    phone_number_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[UUID] = mapped_column(index=True)
    waba_id: Mapped[str] = mapped_column(String(64))
    display_phone_number: Mapped[str] = mapped_column(String(32))
    verified_name: Mapped[str | None] = mapped_column(String(256))
    status: Mapped[str] = mapped_column(String(16))
    registered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    access_token_ciphertext: Mapped[bytes | None] = mapped_column(
        LargeBinary, comment="AES-GCM under the tenant's data key, AAD = phone_number_id")
    throughput_per_second: Mapped[float | None] = mapped_column(
        Float, comment="The number's own send rate; NULL = the service-wide SENDER_THROUGHPUT_PER_SECOND")
    paused: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    paused_reason: Mapped[str | None] = mapped_column(Text)


class OutboundMessage(Base):
    """One requested message and where its send stands (the sender's work queue).

    queued -> sending (committed before the Graph call) -> accepted | failed; a send whose
    answer was lost becomes in_doubt until Meta's status proves it or the grace period ends.
    """

    __tablename__ = "outbound_messages"
    __table_args__ = (
        UniqueConstraint("tenant_id", "client_message_id"),
        Index("ix_outbound_messages_due", "next_attempt_at", postgresql_where=text("status = 'queued'")),
        Index("ix_outbound_messages_in_flight", "status", "updated_at",
              postgresql_where=text("status IN ('sending', 'in_doubt')")),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    tenant_id: Mapped[UUID]
    client_message_id: Mapped[UUID]
    pool_id: Mapped[UUID | None] = mapped_column(comment="The pool the number was picked from, if any")
    phone_number_id: Mapped[str] = mapped_column(String(64))
    recipient: Mapped[str] = mapped_column(String(32))
    type: Mapped[str] = mapped_column(String(32))
    body_sealed: Mapped[bytes | None] = mapped_column(
        LargeBinary, comment="The Graph API request body (JSON), AES-256-GCM under the tenant's data key")
    body: Mapped[dict[str, Any] | None] = mapped_column(
        JSONB, comment="Only rows queued before body_sealed existed: the Graph API request body in clear")
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    wamid: Mapped[str | None] = mapped_column(String(256))
    error_code: Mapped[int | None] = mapped_column(Integer)
    error_title: Mapped[str | None] = mapped_column(String(256))
    error_details: Mapped[str | None] = mapped_column(Text)
    last_error: Mapped[str | None] = mapped_column(Text, comment="Why the latest attempt did not succeed")
    version: Mapped[int] = mapped_column(Integer, default=0, comment="Events recorded for this message")
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    attempted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True),
                                                          comment="When the latest attempt was claimed")
    watermark_passed_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), comment="In doubt: when a later Meta status of the number was first seen")


class Pool(Base):
    """A tenant's group of numbers; a message to the pool goes out from one healthy member (projection)."""

    __tablename__ = "pools"

    id: Mapped[UUID] = mapped_column(primary_key=True)
    tenant_id: Mapped[UUID] = mapped_column(index=True)
    name: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    turn: Mapped[int] = mapped_column(Integer, default=0, server_default="0",
                                      comment="Round-robin position (not event-sourced: a rebuild restarts it)")


class PoolMember(Base):
    """A number in a pool (projection); a number may be in several pools of its tenant."""

    __tablename__ = "pool_members"

    pool_id: Mapped[UUID] = mapped_column(primary_key=True)
    phone_number_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[UUID] = mapped_column(index=True)
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ChannelHealth(Base):
    """Per-number send statistics and health, fed by send outcomes and Meta's statuses (operational read model)."""

    __tablename__ = "channel_health"

    phone_number_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[UUID] = mapped_column(index=True)
    accepted: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    failed: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    delivered: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    read: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    health_score: Mapped[float] = mapped_column(Float, default=100.0, server_default="100")
    last_error_code: Mapped[int | None] = mapped_column(Integer)
    last_failure_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    slowed_until: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), comment="Until then the number sends slower (131048 spam limit, quality drop)")
    slowed_reason: Mapped[str | None] = mapped_column(Text)
    status_watermark: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), comment="Latest Meta status time consumed for the number (in-doubt resends)")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class StatusProgress(Base):
    """Per partition of ``message.status``: every status published before ``caught_up_at`` is processed."""

    __tablename__ = "status_progress"

    partition: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    topic: Mapped[str] = mapped_column(String(255))
    partitions: Mapped[int] = mapped_column(Integer, comment="The topic's partition count when reported")
    caught_up_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class CustomerContact(Base):
    """When a customer last wrote to / was written from a number: the 24 h window and the sticky sender."""

    __tablename__ = "customer_contacts"

    tenant_id: Mapped[UUID] = mapped_column(primary_key=True)
    wa_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    phone_number_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_inbound_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), comment="Meta's time of the customer's latest message (opens the 24 h window)")
    last_outbound_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class TenantPlan(Base):
    """The tenant's plan limits as the gateway last published them (``tenant.changed``); no row = unlimited."""

    __tablename__ = "tenant_plans"

    tenant_id: Mapped[UUID] = mapped_column(primary_key=True)
    plan: Mapped[str] = mapped_column(String(64))
    limits: Mapped[dict[str, Any]] = mapped_column(JSONB)
    as_of: Mapped[datetime] = mapped_column(DateTime(timezone=True), comment="Time of the event that set it")
