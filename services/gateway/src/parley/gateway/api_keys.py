"""Per-tenant API keys for server-to-server use: shown once, stored as a SHA-256, narrowed by scopes."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from parley.gateway import repository
from parley.gateway.access import SCOPES
from parley.gateway.dependencies import API_KEY_PREFIX
from parley.gateway.events import API_KEY_CREATED, API_KEY_REVOKED, ApiKeyCreated, ApiKeyRevoked
from parley.gateway.models import ApiKey
from parley.gateway.runtime import secret_hash
from parley.kit.errors import DomainError, NotFound
from parley.kit.eventstore import EventStore


@dataclass(frozen=True)
class IssuedKey:
    key: ApiKey
    secret: str


async def create(session: AsyncSession, store: EventStore, *, tenant_id: UUID, created_by: UUID, name: str,
                 scopes: list[str], rate_per_minute: int | None) -> IssuedKey:
    """A new key; the returned secret is the only time anyone sees it."""
    unknown = sorted(set(scopes) - SCOPES)
    if unknown or not scopes:
        raise DomainError("unknown or missing scopes", code="invalid_scopes", status_code=422,
                          details={"unknown": unknown, "valid": sorted(SCOPES)})
    api_key_id = uuid.uuid4()
    secret = f"{API_KEY_PREFIX}{secrets.token_urlsafe(32)}"
    event = ApiKeyCreated(api_key_id=api_key_id, tenant_id=tenant_id, name=name, prefix=secret[:10],
                          key_hash=secret_hash(secret), scopes=sorted(set(scopes)), rate_per_minute=rate_per_minute,
                          created_by=created_by)
    await store.record_internal(session, API_KEY_CREATED, event.model_dump(mode="json"), aggregate_type="api-key",
                                aggregate_id=str(api_key_id), expected_version=0, tenant_id=tenant_id)
    key = await repository.get_api_key(session, tenant_id, api_key_id)
    assert key is not None  # just projected
    return IssuedKey(key, secret)


async def revoke(session: AsyncSession, store: EventStore, *, tenant_id: UUID, api_key_id: UUID) -> None:
    key = await repository.get_api_key(session, tenant_id, api_key_id)
    if key is None:
        raise NotFound("no such API key", code="api_key_not_found")
    if key.revoked_at is not None:
        return
    await store.record_internal(session, API_KEY_REVOKED, ApiKeyRevoked(api_key_id=api_key_id).model_dump(mode="json"),
                                aggregate_type="api-key", aggregate_id=str(api_key_id), expected_version=1,
                                tenant_id=tenant_id)
