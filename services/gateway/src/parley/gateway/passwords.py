"""Password hashing with argon2id; verification runs off the event loop."""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()  # argon2id with the library's RFC 9106 "low memory" parameters
# Verified against when the e-mail is unknown, so a miss costs what a wrong password costs.
_DUMMY_HASH = _hasher.hash("parley-unknown-user-dummy-password")


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, password)


async def verify_password(password_hash: str | None, password: str) -> bool:
    """True when ``password`` matches; with no hash (unknown user) it still spends the same effort."""
    candidate = password_hash if password_hash is not None else _DUMMY_HASH
    try:
        matched = await asyncio.to_thread(_hasher.verify, candidate, password)
    except (VerificationError, InvalidHashError):
        return False
    return matched and password_hash is not None

