"""``Idempotency-Key`` on creating requests: a retry with the same key gets the first answer back.

The first request claims the key (with a fingerprint of method, path and body); its response is kept
for a day unless it was a server error, in which case the claim is dropped so the retry runs again.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass

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

    async def claim(self, scope: str, fp: str) -> StoredResponse | None:
        """None when this request owns the key now; the first answer when it was already given.

        Conflict while the first request is still running; IdempotencyKeyReused for a different request.
        """
        key = self.prefix + scope
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
            return StoredResponse(stored["status"], stored["content_type"], base64.b64decode(stored["body"]))
        raise Conflict("a request with this Idempotency-Key is still in progress", code="idempotency_in_progress")

    async def complete(self, scope: str, fp: str, response: StoredResponse) -> None:
        payload = {"fp": fp, "status": response.status_code, "content_type": response.content_type,
                   "body": base64.b64encode(response.body).decode()}
        await self.redis.set(self.prefix + scope, json.dumps(payload), ex=self.keep_seconds)

    async def release(self, scope: str) -> None:
        await self.redis.delete(self.prefix + scope)
