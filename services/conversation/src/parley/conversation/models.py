"""Tables of the conversation service, all in its own ``conversation`` schema (projections of its events).

Message bodies, captions and notes are only ever stored sealed (AES-256-GCM under the tenant's data key).
"""

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Boolean, DateTime, Index, Integer, LargeBinary, String, Text, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from parley.kit.crypto import define_data_keys_table
from parley.kit.db import declarative_base
from parley.kit.eventstore import define_kit_tables

Base = declarative_base("conversation")
metadata = Base.metadata
kit_tables = define_kit_tables(metadata)
data_keys = define_data_keys_table(metadata)

Labels = ARRAY(String(64))


class Contact(Base):
    __tablename__ = "contacts"

    id: Mapped[UUID] = mapped_column(primary_key=True)
    tenant_id: Mapped[UUID] = mapped_column(index=True)
    wa_id: Mapped[str] = mapped_column(String(32))
    phone_e164: Mapped[str | None] = mapped_column(String(32))
    profile_name: Mapped[str | None] = mapped_column(String(256))
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    labels: Mapped[list[str]] = mapped_column(Labels, server_default=text("'{}'"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    #: Version of the contact aggregate in the event store (saves a MAX() per event).
    version: Mapped[int] = mapped_column(Integer, server_default=text("0"))

    __table_args__ = (UniqueConstraint("tenant_id", "wa_id"),)


class Conversation(Base):
    __tablename__ = "conversations"

    id: Mapped[UUID] = mapped_column(primary_key=True)
    tenant_id: Mapped[UUID]
    contact_id: Mapped[UUID]
    wa_id: Mapped[str] = mapped_column(String(32))
    phone_number_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    priority: Mapped[str] = mapped_column(String(16), server_default="none")
    labels: Mapped[list[str]] = mapped_column(Labels, server_default=text("'{}'"))
    assignee_id: Mapped[UUID | None]
    team_id: Mapped[UUID | None]
    snoozed_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_message_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_message_id: Mapped[UUID | None]
    last_message_type: Mapped[str | None] = mapped_column(String(32))
    last_message_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    window_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    version: Mapped[int] = mapped_column(Integer, server_default=text("0"))

    __table_args__ = (
        # One conversation per contact per number: a customer's reply reopens it rather than starting another.
        UniqueConstraint("tenant_id", "contact_id", "phone_number_id"),
        Index("ix_conversations_tenant_last_message", "tenant_id", "last_message_at", "id"),
        Index("ix_conversations_tenant_status_last", "tenant_id", "status", "last_message_at", "id"),
        Index("ix_conversations_tenant_assignee_last", "tenant_id", "assignee_id", "last_message_at", "id"),
        Index("ix_conversations_tenant_team_last", "tenant_id", "team_id", "last_message_at", "id"),
        Index("ix_conversations_tenant_channel_last", "tenant_id", "phone_number_id", "last_message_at", "id"),
        Index("ix_conversations_labels", "labels", postgresql_using="gin"),
        Index("ix_conversations_snoozed", "snoozed_until", postgresql_where=text("status = 'snoozed'")),
    )


class Message(Base):
    __tablename__ = "messages"

    id: Mapped[UUID] = mapped_column(primary_key=True)
    tenant_id: Mapped[UUID]
    conversation_id: Mapped[UUID]
    wamid: Mapped[str | None] = mapped_column(String(256))
    client_message_id: Mapped[UUID | None]
    direction: Mapped[str] = mapped_column(String(16))
    type: Mapped[str] = mapped_column(String(32))
    status: Mapped[str | None] = mapped_column(String(16))
    status_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    error_code: Mapped[int | None]
    error_message: Mapped[str | None] = mapped_column(Text)
    #: {"text": ..., "content": {...}} sealed under the tenant's data key, bound to this message id.
    body_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    media: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    reply_to_wamid: Mapped[str | None] = mapped_column(String(256))
    reply_to_message_id: Mapped[UUID | None]
    reaction: Mapped[str | None] = mapped_column(String(32))
    reaction_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    author_id: Mapped[UUID | None]
    sent_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        UniqueConstraint("tenant_id", "wamid"),
        Index("ix_messages_conversation_sent_at", "conversation_id", "sent_at", "id"),
        Index("uq_messages_tenant_client_message_id", "tenant_id", "client_message_id", unique=True,
              postgresql_where=text("client_message_id IS NOT NULL")),
    )


class ParkedReaction(Base):
    """A customer's reaction that arrived before the message it targets (Meta guarantees no order): kept until
    the target arrives, then attached to it."""

    __tablename__ = "parked_reactions"

    tenant_id: Mapped[UUID] = mapped_column(primary_key=True)
    reaction_wamid: Mapped[str] = mapped_column(String(256), primary_key=True)
    target_wamid: Mapped[str] = mapped_column(String(256))
    wa_id: Mapped[str] = mapped_column(String(32))
    emoji: Mapped[str | None] = mapped_column(String(32))
    reacted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_parked_reactions_target", "tenant_id", "target_wamid"),)


class Note(Base):
    __tablename__ = "notes"

    id: Mapped[UUID] = mapped_column(primary_key=True)
    tenant_id: Mapped[UUID]
    conversation_id: Mapped[UUID] = mapped_column(index=True)
    author_id: Mapped[UUID]
    body_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Agent(Base):
    """A user of the tenant as the inbox sees them (from ``user.changed``), with availability and a cap."""

    __tablename__ = "agents"

    tenant_id: Mapped[UUID] = mapped_column(primary_key=True)
    user_id: Mapped[UUID] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320))
    name: Mapped[str | None] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    available: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    max_open: Mapped[int] = mapped_column(Integer, server_default=text("10"))
    last_assigned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Team(Base):
    __tablename__ = "teams"

    id: Mapped[UUID] = mapped_column(primary_key=True)
    tenant_id: Mapped[UUID]
    name: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (UniqueConstraint("tenant_id", "name"),)


class TeamMember(Base):
    __tablename__ = "team_members"

    team_id: Mapped[UUID] = mapped_column(primary_key=True)
    user_id: Mapped[UUID] = mapped_column(primary_key=True)
    tenant_id: Mapped[UUID]

    __table_args__ = (Index("ix_team_members_tenant_user", "tenant_id", "user_id"),)


PROJECTIONS = [Message.__table__, ParkedReaction.__table__, Note.__table__, Conversation.__table__, Contact.__table__,
               Agent.__table__, TeamMember.__table__, Team.__table__]
