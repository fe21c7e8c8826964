"""Tables of the sender service, all in its own ``sender`` schema."""

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import DateTime, Index, Integer, LargeBinary, String, Text, UniqueConstraint, text
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
    phone_number_id: Mapped[str] = mapped_column(String(64))
    recipient: Mapped[str] = mapped_column(String(32))
    type: Mapped[str] = mapped_column(String(32))
    body: Mapped[dict[str, Any]] = mapped_column(JSONB, comment="The Graph API request body, sans tracking data")
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
