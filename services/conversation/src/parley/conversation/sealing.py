"""Bodies at rest: message bodies, captions and notes are sealed (AES-256-GCM) under the tenant's data key.

The sealed bytes travel in this service's events (base64), so the event store, the projections and a
``rebuild`` only ever see ciphertext, and shredding a tenant's key shreds its history too.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from parley.kit.crypto import TenantCipher


def message_context(message_id: UUID) -> bytes:
    """Associated data: a message's sealed body only opens as that message's."""
    return b"conversation.messages:" + message_id.bytes


def note_context(note_id: UUID) -> bytes:
    return b"conversation.notes:" + note_id.bytes


class Sealer:
    def __init__(self, cipher: TenantCipher) -> None:
        self.cipher = cipher

    async def seal(self, session: AsyncSession, tenant_id: UUID, value: dict[str, Any], context: bytes) -> str:
        """``value`` as JSON, sealed, base64 (the form events carry)."""
        plain = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
        return base64.b64encode(await self.cipher.encrypt(session, tenant_id, plain, context)).decode()

    async def seal_many(self, session: AsyncSession, tenant_id: UUID,
                        items: Sequence[tuple[dict[str, Any], bytes]]) -> list[str]:
        """Seal a batch of one tenant's values with one key lookup (AES-GCM itself is cheap)."""
        plain = [(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode(), context)
                 for value, context in items]
        sealed = await self.cipher.encrypt_many(session, tenant_id, plain)
        return [base64.b64encode(value).decode() for value in sealed]

    async def open_many(self, session: AsyncSession, tenant_id: UUID,
                        items: Sequence[tuple[bytes | None, bytes]]) -> list[dict[str, Any] | None]:
        """Open a page of sealed values with one key lookup; ``None`` stays ``None``."""
        present = [(sealed, context) for sealed, context in items if sealed is not None]
        opened = iter(await self.cipher.decrypt_many(session, tenant_id, present))
        return [json.loads(next(opened)) if sealed is not None else None for sealed, _ in items]


def unb64(value: str | None) -> bytes | None:
    return base64.b64decode(value) if value is not None else None
