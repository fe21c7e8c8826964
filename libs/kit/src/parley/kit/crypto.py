"""Secrets at rest: AES-256-GCM under per-tenant data keys, each wrapped by a master key.

A service keeps its tenants' data keys in its own ``data_keys`` table, wrapped (AES-GCM) by the
current master key and tagged with that key's id. Rotating the master key is: put the new key
first in ``PARLEY_MASTER_KEYS`` (older ones still unwrap), run ``rewrap_all``, then drop the old
key. Deleting a tenant's data key (``shred``) makes everything encrypted for that tenant unreadable.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import SecretStr
from pydantic_settings import BaseSettings
from sqlalchemy import Column, DateTime, LargeBinary, MetaData, Row, String, Table, delete, func, select, update
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from parley.kit.db import service_metadata
from parley.kit.settings import DEV_SECRET_MARKER, shared

MASTER_KEYS_ENV = "PARLEY_MASTER_KEYS"
#: Ships in the repository for development only; the settings validator refuses it anywhere else.
DEV_MASTER_KEYS = "dev-only:J+5DXaPUD14uIslLZzcJe9mnofYOF9AUF9VQ3bjbeo0="

FORMAT_VERSION = 1
NONCE_BYTES = 12
KEY_BYTES = 32


class CryptoError(Exception):
    """Something encrypted cannot be read (wrong key, tampered bytes, wrong context) or written."""


class KeyringError(CryptoError, ValueError):
    """The master key setting is malformed."""


class DataKeyMissing(CryptoError):
    """The tenant has no data key (never had one, or it was shredded): its data cannot be decrypted."""


class EncryptionSettings(BaseSettings):
    """Mix into a service's settings: ``class IngestSettings(ServiceSettings, EncryptionSettings)``."""

    master_keys: SecretStr = shared(
        MASTER_KEYS_ENV, SecretStr(DEV_MASTER_KEYS),
        description="kid:<base64 32 bytes>[,kid:<...>] - the first encrypts, all decrypt",
    )


@dataclass(frozen=True)
class MasterKey:
    kid: str
    key: bytes = b""

    def __repr__(self) -> str:
        return f"MasterKey(kid={self.kid!r})"


class Keyring:
    """Master keys by id; the first one wraps new data keys, every one can unwrap."""

    def __init__(self, keys: Sequence[MasterKey]) -> None:
        if not keys:
            raise KeyringError("at least one master key is required")
        kids = [k.kid for k in keys]
        if len(set(kids)) != len(kids):
            raise KeyringError(f"master key ids must be unique: {', '.join(kids)}")
        self.keys = {k.kid: k for k in keys}
        self.current = keys[0]

    @classmethod
    def parse(cls, value: str) -> Keyring:
        """``"kid1:<base64 32 bytes>,kid2:<...>"``."""
        keys = []
        for part in (p.strip() for p in value.split(",")):
            if not part:
                continue
            kid, sep, encoded = part.partition(":")
            if not sep or not kid.strip():
                raise KeyringError("each master key must look like kid:<base64 of 32 bytes>")
            try:
                key = base64.b64decode(encoded.strip(), validate=True)
            except (binascii.Error, ValueError):
                raise KeyringError(f"master key {kid.strip()!r} is not valid base64") from None
            if len(key) != KEY_BYTES:
                raise KeyringError(f"master key {kid.strip()!r} must be {KEY_BYTES} bytes, not {len(key)}")
            keys.append(MasterKey(kid.strip(), key))
        return cls(keys)

    @staticmethod
    def generate_entry(kid: str) -> str:
        """A new ``kid:<base64>`` entry for the setting (operators paste it first in the list)."""
        return f"{kid}:{base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()}"

    def wrap(self, tenant_id: UUID, data_key: bytes) -> tuple[str, bytes]:
        return self.current.kid, _seal(self.current.key, data_key, _wrap_context(tenant_id))

    def unwrap(self, tenant_id: UUID, kid: str, wrapped: bytes) -> bytes:
        master = self.keys.get(kid)
        if master is None:
            raise CryptoError(f"the data key of tenant {tenant_id} is wrapped by unknown master key {kid!r}")
        return _open(master.key, wrapped, _wrap_context(tenant_id))


def load_keyring(settings: object | None = None) -> Keyring:
    """The keyring from ``settings.master_keys`` when present, else ``PARLEY_MASTER_KEYS`` (dev default).

    The dev default is refused outside development, as the settings validator does for other secrets.
    """
    configured = getattr(settings, "master_keys", None)
    if isinstance(configured, SecretStr):
        value = configured.get_secret_value()
    else:
        value = os.environ.get(MASTER_KEYS_ENV) or DEV_MASTER_KEYS
    env = getattr(settings, "env", None) or os.environ.get("PARLEY_ENV", "development")
    if DEV_SECRET_MARKER in value and env != "development":
        raise KeyringError(f"development master keys are not allowed when PARLEY_ENV={env}: set {MASTER_KEYS_ENV}")
    return Keyring.parse(value)


def _wrap_context(tenant_id: UUID) -> bytes:
    # Binds a wrapped key to its tenant: swapping rows between tenants fails to unwrap.
    return b"parley.data-key:" + tenant_id.bytes


def _seal(key: bytes, plaintext: bytes, associated_data: bytes) -> bytes:
    nonce = secrets.token_bytes(NONCE_BYTES)
    return bytes([FORMAT_VERSION]) + nonce + AESGCM(key).encrypt(nonce, plaintext, associated_data)


def _open(key: bytes, sealed: bytes, associated_data: bytes) -> bytes:
    if len(sealed) < 1 + NONCE_BYTES + 16 or sealed[0] != FORMAT_VERSION:
        raise CryptoError("not a ciphertext of a supported format")
    nonce, body = sealed[1:1 + NONCE_BYTES], sealed[1 + NONCE_BYTES:]
    try:
        return AESGCM(key).decrypt(nonce, body, associated_data)
    except InvalidTag:
        raise CryptoError("the ciphertext does not match its key or context (tampered, or another row's)") from None


# -- storage ---------------------------------------------------------------------------------


def define_data_keys_table(metadata: MetaData, name: str = "data_keys") -> Table:
    """Add a service's ``data_keys`` table (its own schema) to its metadata."""
    return Table(
        name, metadata,
        Column("tenant_id", PG_UUID(as_uuid=True), primary_key=True),
        Column("master_kid", String(64), nullable=False),
        Column("wrapped_key", LargeBinary, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("rewrapped_at", DateTime(timezone=True), nullable=True),
    )


def create_data_keys_table(schema: str) -> None:
    """For a service's migration: create ``<schema>.data_keys``."""
    from alembic import op

    define_data_keys_table(service_metadata(schema)).create(op.get_bind())


def drop_data_keys_table(schema: str) -> None:
    from alembic import op

    op.drop_table("data_keys", schema=schema)


class TenantCipher:
    """Encrypts and decrypts tenant data with that tenant's data key, inside the caller's transaction.

    Keys are not cached, so a shredded key stops decrypting at once in every process.
    """

    def __init__(self, keyring: Keyring, table: Table) -> None:
        self.keyring = keyring
        self.table = table

    async def encrypt(self, session: AsyncSession, tenant_id: UUID, plaintext: bytes,
                      associated_data: bytes) -> bytes:
        """``version || nonce || ciphertext+tag``; ``associated_data`` should name table, column and row."""
        return _seal(await self._data_key(session, tenant_id, create=True), plaintext, associated_data)

    async def decrypt(self, session: AsyncSession, tenant_id: UUID, ciphertext: bytes,
                      associated_data: bytes) -> bytes:
        """Raises ``DataKeyMissing`` once the tenant's key is shredded, ``CryptoError`` on any mismatch."""
        return _open(await self._data_key(session, tenant_id, create=False), ciphertext, associated_data)

    async def encrypt_many(self, session: AsyncSession, tenant_id: UUID,
                           items: Sequence[tuple[bytes, bytes]]) -> list[bytes]:
        """Encrypt ``(plaintext, associated_data)`` pairs of one tenant with one key lookup (a batch of rows)."""
        if not items:
            return []
        key = await self._data_key(session, tenant_id, create=True)
        return [_seal(key, plaintext, associated_data) for plaintext, associated_data in items]

    async def decrypt_many(self, session: AsyncSession, tenant_id: UUID,
                           items: Sequence[tuple[bytes, bytes]]) -> list[bytes]:
        """Decrypt ``(ciphertext, associated_data)`` pairs of one tenant with one key lookup (a page of rows)."""
        if not items:
            return []
        key = await self._data_key(session, tenant_id, create=False)
        return [_open(key, ciphertext, associated_data) for ciphertext, associated_data in items]

    async def _data_key(self, session: AsyncSession, tenant_id: UUID, *, create: bool) -> bytes:
        row = await self._read(session, tenant_id)
        if row is None:
            if not create:
                raise DataKeyMissing(f"tenant {tenant_id} has no data key (never created, or shredded)")
            kid, wrapped = self.keyring.wrap(tenant_id, secrets.token_bytes(KEY_BYTES))
            # Two first uses may race: one insert wins, both then read the winner's key.
            await session.execute(insert(self.table).values(tenant_id=tenant_id, master_kid=kid, wrapped_key=wrapped)
                                  .on_conflict_do_nothing(index_elements=["tenant_id"]))
            row = await self._read(session, tenant_id)
            assert row is not None, "the data key was just inserted"
        return self.keyring.unwrap(tenant_id, row.master_kid, row.wrapped_key)

    async def _read(self, session: AsyncSession, tenant_id: UUID) -> Row[tuple[str, bytes]] | None:
        t = self.table
        query = select(t.c.master_kid, t.c.wrapped_key).where(t.c.tenant_id == tenant_id)
        return (await session.execute(query)).one_or_none()

    async def rewrap_all(self, session: AsyncSession, *, batch: int = 500) -> int:
        """Re-wrap every data key not under the current master key; returns how many moved."""
        t, current, moved = self.table, self.keyring.current.kid, 0
        while True:
            rows = (await session.execute(
                select(t.c.tenant_id, t.c.master_kid, t.c.wrapped_key).where(t.c.master_kid != current)
                .order_by(t.c.tenant_id).limit(batch).with_for_update(skip_locked=True)
            )).all()
            if not rows:
                return moved
            for tenant_id, kid, wrapped in rows:
                new_kid, rewrapped = self.keyring.wrap(tenant_id, self.keyring.unwrap(tenant_id, kid, wrapped))
                await session.execute(update(t).where(t.c.tenant_id == tenant_id)
                                      .values(master_kid=new_kid, wrapped_key=rewrapped, rewrapped_at=func.now()))
                moved += 1

    async def shred(self, session: AsyncSession, tenant_id: UUID) -> bool:
        """Delete the tenant's data key: everything encrypted under it becomes unreadable for good."""
        result = await session.execute(delete(self.table).where(self.table.c.tenant_id == tenant_id)
                                       .returning(self.table.c.tenant_id))
        return result.scalar_one_or_none() is not None
