"""``inbound_hooks`` is a projection of ``inbound-hook.*`` events: each carries the hook's whole state.

The secret travels only as ciphertext under the tenant's data key, so shredding that key also
makes the copies in the event store unreadable.
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from parley.contracts import Envelope
from parley.ingest.hooks import repository
from parley.kit.eventstore import Projector

AGGREGATE = "inbound-hook"
CREATED, UPDATED, SECRET_ROTATED, DELETED = (f"{AGGREGATE}.{verb}" for verb in
                                             ("created", "updated", "secret-rotated", "deleted"))
EVENT_TYPES = frozenset({CREATED, UPDATED, SECRET_ROTATED, DELETED})
_BYTES = ("secret_ciphertext", "previous_secret_ciphertext")
_TIMES = ("previous_secret_expires_at", "created_at", "updated_at")
_UUIDS = ("id", "tenant_id")


def to_event_data(values: dict[str, Any]) -> dict[str, Any]:
    """A hook's column values as JSON event data."""
    data = dict(values)
    for name in _BYTES:
        data[name] = base64.b64encode(data[name]).decode() if data.get(name) is not None else None
    for name in _TIMES:
        data[name] = data[name].isoformat() if data.get(name) is not None else None
    for name in _UUIDS:
        data[name] = str(data[name])
    return data


def from_event_data(data: dict[str, Any]) -> dict[str, Any]:
    values = dict(data)
    for name in _BYTES:
        values[name] = base64.b64decode(values[name]) if values.get(name) is not None else None
    for name in _TIMES:
        values[name] = datetime.fromisoformat(values[name]) if values.get(name) is not None else None
    for name in _UUIDS:
        values[name] = UUID(str(values[name]))
    return values


async def project(session: AsyncSession, envelope: Envelope) -> bool:
    """Apply one hook event to ``inbound_hooks``; ``False`` when the event is not a hook event."""
    if envelope.type not in EVENT_TYPES:
        return False
    if envelope.type == DELETED:
        await repository.delete_hook(session, UUID(str(envelope.data["id"])))
    else:
        await repository.upsert_hook(session, from_event_data(dict(envelope.data)))
    return True


def with_hooks(projector: Projector | None) -> Projector:
    """Ingest's projector, extended with the hook projection (pass the result to ``EventStore``)."""

    async def combined(session: AsyncSession, envelope: Envelope) -> None:
        if not await project(session, envelope) and projector is not None:
            await projector(session, envelope)

    return combined
