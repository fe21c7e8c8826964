"""``python -m parley.ingest rewrap-keys``: move every tenant data key under the current master key."""

from __future__ import annotations

from parley.ingest.hooks.endpoints import build_cipher
from parley.kit.service import Service


async def rewrap_keys(ingest: Service, _: list[str]) -> str:
    """Run after putting a new master key first in PARLEY_MASTER_KEYS; then the old key can be removed."""
    cipher = build_cipher(ingest.settings)
    async with ingest.db.unit_of_work(system=True) as session:  # every tenant's key
        moved = await cipher.rewrap_all(session)
    return f"ingest: {moved} data keys re-wrapped under master key {cipher.keyring.current.kid!r}"
