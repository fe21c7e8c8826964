"""Tables of inbound hooks, in ingest's schema: the hooks, and the tenants' data keys that encrypt their secrets."""

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import DateTime, Index, LargeBinary, String, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from parley.ingest.models import Base
from parley.kit.crypto import define_data_keys_table

data_keys = define_data_keys_table(Base.metadata)


class InboundHook(Base):
    """A tenant's hook endpoint (``POST /hooks/{id}``): how to verify a body and how to map it to an event.

    A projection of the ``inbound-hook.*`` events in ingest's event store.
    """

    __tablename__ = "inbound_hooks"

    id: Mapped[UUID] = mapped_column(primary_key=True)
    tenant_id: Mapped[UUID]
    name: Mapped[str] = mapped_column(String(100))
    event: Mapped[str] = mapped_column(String(128))
    signature_scheme: Mapped[str] = mapped_column(String(32))
    signature_header: Mapped[str | None] = mapped_column(String(100))
    signature_encoding: Mapped[str | None] = mapped_column(String(8))
    signature_prefix: Mapped[str | None] = mapped_column(String(32))
    secret_ciphertext: Mapped[bytes] = mapped_column(LargeBinary, comment="AES-GCM under the tenant's data key")
    previous_secret_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary)
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    mapping: Mapped[dict[str, Any]] = mapped_column(JSONB)
    default_region: Mapped[str | None] = mapped_column(String(2))
    active: Mapped[bool]
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        UniqueConstraint("tenant_id", "name"),
        Index("ix_inbound_hooks_tenant_id_id", "tenant_id", "id"),
    )
