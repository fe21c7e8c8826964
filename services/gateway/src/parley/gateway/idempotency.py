"""``Idempotency-Key`` on creating requests: a retry with the same key gets the first answer back.

The first request claims the key (with a fingerprint of method, path and body); its response is kept
for a day unless it was a server error, in which case the claim is dropped so the retry runs again.

What Valkey holds reveals nothing without the key itself: the entry is named by a hash of the scope (caller
and key), the fingerprint is an HMAC and the response is sealed with AES-GCM, both under a secret derived
from the scope. A kept response may carry a secret shown once (a new API key, a sign-up's tokens): only a
client presenting the same Idempotency-Key (and, for a user's request, the same tenant and user) opens it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from redis.asyncio import Redis

from parley.kit.errors import Conflict, DomainError

MAX_KEY_LENGTH = 255


@dataclass(frozen=True)
class StoredResponse:
    status_code: int
    content_type: str
    body: bytes


class IdempotencyKeyReused(DomainError):
    code = "idempotency_key_reused"
    status_code = 422


def fingerprint(method: str, path: str, body: bytes) -> str:
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + body).hexdigest()


class IdempotencyStore:
    def __init__(self, redis: Redis, *, claim_seconds: int = 120, keep_seconds: int = 86_400,
                 prefix: str = "parley:gateway:idempotency:") -> None:
        self.redis = redis
        self.claim_seconds = claim_seconds
        self.keep_seconds = keep_seconds
        self.prefix = prefix

    @staticmethod
    def validate_key(key: str) -> None:
        if not key or len(key) > MAX_KEY_LENGTH or not key.isascii() or not key.isprintable():
            raise DomainError(f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable ASCII characters",
                              code="invalid_idempotency_key", status_code=400)

    def _entry(self, scope: str) -> tuple[str, bytes]:
        """(Valkey key, sealing secret) of ``scope``: neither can be derived from the other."""
        name = hashlib.sha256(b"parley-idempotency-entry\0" + scope.encode()).hexdigest()
        return self.prefix + name, hashlib.sha256(b"parley-idempotency-seal\0" + scope.encode()).digest()

    async def claim(self, scope: str, fp: str) -> StoredResponse | None:
        """None when this request owns the key now; the first answer when it was already given.

        Conflict while the first request is still running; IdempotencyKeyReused for a different request.
        """
        key, secret = self._entry(scope)
        fp = hmac.new(secret, fp.encode(), hashlib.sha256).hexdigest()
        for _ in range(2):
            if await self.redis.set(key, json.dumps({"fp": fp}), nx=True, ex=self.claim_seconds):
                return None
            raw = await self.redis.get(key)
            if raw is None:  # expired between the two calls: claim again
                continue
            stored = json.loads(raw)
            if stored["fp"] != fp:
                raise IdempotencyKeyReused("this Idempotency-Key was used for a different request")
            if "status" not in stored:
                raise Conflict("a request with this Idempotency-Key is still in progress",
                               code="idempotency_in_progress")
            return _open(secret, key, stored)
        raise Conflict("a request with this Idempotency-Key is still in progress", code="idempotency_in_progress")

    async def complete(self, scope: str, fp: str, response: StoredResponse) -> None:
        key, secret = self._entry(scope)
        nonce = os.urandom(12)
        sealed = AESGCM(secret).encrypt(nonce, response.body, key.encode())
        payload = {"fp": hmac.new(secret, fp.encode(), hashlib.sha256).hexdigest(), "status": response.status_code,
                   "content_type": response.content_type, "body": base64.b64encode(nonce + sealed).decode()}
        await self.redis.set(key, json.dumps(payload), ex=self.keep_seconds)

    async def release(self, scope: str) -> None:
        await self.redis.delete(self._entry(scope)[0])


def _open(secret: bytes, key: str, stored: dict[str, object]) -> StoredResponse:
    raw = base64.b64decode(str(stored["body"]))
    try:
        body = AESGCM(secret).decrypt(raw[:12], raw[12:], key.encode())
    except InvalidTag:
        raise Conflict("the kept response of this Idempotency-Key cannot be read; use a new key",
                       code="idempotency_in_progress") from None
    return StoredResponse(int(stored["status"]), str(stored["content_type"]), body)


async def run_once(store: IdempotencyStore, scope: str, key: str, fp: str,
                   produce: Callable[[], Awaitable[StoredResponse]]) -> tuple[StoredResponse, bool]:
    """(response, replayed): the first answer under ``key`` in ``scope``, producing it only if there is none.

    A server error or an exception drops the claim, so a retry runs again; any other answer is kept.
    """
    store.validate_key(key)
    scope = f"{scope}:{key}"
    stored = await store.claim(scope, fp)
    if stored is not None:
        return stored, True
    try:
        response = await produce()
    except BaseException:
        await store.release(scope)
        raise
    if response.status_code >= 500:
        await store.release(scope)
    else:
        await store.complete(scope, fp, response)
    return response, False
