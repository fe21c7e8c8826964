"""Tables of the sender service, all in its own ``sender`` schema."""

from datetime import datetime
from uuid import UUID

from sqlalchemy import DateTime, String
from sqlalchemy.orm import Mapped, mapped_column

from parley.kit.db import declarative_base
from parley.kit.eventstore import define_kit_tables

Base = declarative_base("sender")
metadata = Base.metadata
kit_tables = define_kit_tables(metadata)


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
