"""Use cases of inbound hooks: manage a tenant's hooks, authenticate deliveries, map stored payloads to events."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from parley.contracts import new_event_id
from parley.contracts.events.webhooks import HookEventMapped
from parley.ingest import repository as webhooks
from parley.ingest.hooks import mapping, payloads, projection, repository, signatures
from parley.ingest.hooks.models import InboundHook
from parley.ingest.hooks.schemas import HookCreate, HookUpdate, MappingIn, SecretRotation
from parley.ingest.models import WebhookRecord
from parley.ingest.normalizer import Unreadable
from parley.kit.auth import Principal
from parley.kit.crypto import CryptoError, TenantCipher
from parley.kit.errors import Conflict, DomainError, Forbidden, NotFound
from parley.kit.eventstore import ConcurrencyError, EventStore
from parley.kit.telemetry import get_logger

log = get_logger(__name__)

MANAGERS = frozenset({"owner", "admin", "manager"})
READERS = MANAGERS | {"agent"}


class InvalidMapping(DomainError):
    code = "invalid_mapping"
    status_code = 422


def require_role(principal: Principal, allowed: frozenset[str]) -> None:
    if principal.role not in allowed:
        raise Forbidden(f"the {principal.role} role cannot do this; it needs one of: {', '.join(sorted(allowed))}")


def secret_context(hook_id: UUID) -> bytes:
    """AES-GCM associated data: a secret decrypts only as the secret of its own hook."""
    return b"ingest.inbound_hooks.secret:" + hook_id.bytes


def check_mapping(raw: dict[str, Any], sample: dict[str, Any] | None, default_region: str | None) -> None:
    """Raise ``InvalidMapping`` naming every bad path and what is wrong with it."""
    problems = mapping.check_syntax(raw)
    if default_region is not None and not mapping.supported_region(default_region):
        problems.append(mapping.Problem("default_region", None, f"`{default_region}` is not a known region code "
                                                                "(ISO 3166 alpha-2, e.g. BR, US)"))
    if not problems and sample is not None:
        problems = mapping.check_sample(raw, sample)
    if problems:
        raise InvalidMapping("the mapping is invalid: " + "; ".join(map(str, problems)),
                             details=[{"field": p.field, "path": p.path, "problem": p.problem} for p in problems])


async def create_hook(session: AsyncSession, store: EventStore, cipher: TenantCipher, principal: Principal,
                      request: HookCreate) -> tuple[InboundHook, str]:
    """A new hook and its secret (returned once, stored only encrypted)."""
    require_role(principal, MANAGERS)
    raw_mapping = request.mapping.model_dump()
    region = request.default_region.upper() if request.default_region else None
    check_mapping(raw_mapping, request.sample, region)
    secret = _new_or_given_secret(request.signature.scheme, request.secret)
    if await repository.name_taken(session, principal.tenant_id, request.name):
        raise Conflict(f"a hook named {request.name!r} already exists", code="hook_name_taken")
    hook_id, now = new_event_id(), datetime.now(UTC)
    values = {
        "id": hook_id, "tenant_id": principal.tenant_id, "name": request.name, "event": request.event,
        "signature_scheme": request.signature.scheme, "signature_header": request.signature.header,
        "signature_encoding": request.signature.encoding, "signature_prefix": request.signature.prefix,
        "secret_ciphertext": await cipher.encrypt(session, principal.tenant_id, secret.encode(),
                                                  secret_context(hook_id)),
        "previous_secret_ciphertext": None, "previous_secret_expires_at": None,
        "mapping": raw_mapping, "default_region": region, "active": True, "created_at": now, "updated_at": now,
    }
    return await _record(session, store, projection.CREATED, values, expected_version=0), secret


async def update_hook(session: AsyncSession, store: EventStore, principal: Principal, hook_id: UUID,
                      changes: HookUpdate) -> InboundHook:
    require_role(principal, MANAGERS)
    hook = await _tenant_hook(session, principal.tenant_id, hook_id)
    values = _values(hook)
    given = changes.model_dump(exclude_unset=True, exclude={"sample"})
    if "mapping" in given:
        given["mapping"] = (changes.mapping or MappingIn()).model_dump()
    if given.get("default_region"):
        given["default_region"] = given["default_region"].upper()
    values.update({k: v for k, v in given.items() if v is not None or k == "default_region"})
    check_mapping(values["mapping"], changes.sample, values["default_region"])
    if values["name"] != hook.name and await repository.name_taken(session, hook.tenant_id, values["name"],
                                                                    other_than=hook.id):
        raise Conflict(f"a hook named {values['name']!r} already exists", code="hook_name_taken")
    values["updated_at"] = datetime.now(UTC)
    return await _record(session, store, projection.UPDATED, values,
                         expected_version=await store.version_of(session, projection.AGGREGATE, str(hook.id)))


async def rotate_secret(session: AsyncSession, store: EventStore, cipher: TenantCipher, principal: Principal,
                        hook_id: UUID, rotation: SecretRotation) -> tuple[InboundHook, str]:
    """A new secret; the old one keeps working for the grace period so senders can switch over."""
    require_role(principal, MANAGERS)
    hook = await _tenant_hook(session, principal.tenant_id, hook_id)
    secret = _new_or_given_secret(hook.signature_scheme, rotation.secret)  # type: ignore[arg-type]
    now = datetime.now(UTC)
    values = _values(hook) | {
        "secret_ciphertext": await cipher.encrypt(session, hook.tenant_id, secret.encode(), secret_context(hook.id)),
        "previous_secret_ciphertext": hook.secret_ciphertext if rotation.grace_period_seconds else None,
        "previous_secret_expires_at": now + timedelta(seconds=rotation.grace_period_seconds)
        if rotation.grace_period_seconds else None,
        "updated_at": now,
    }
    version = await store.version_of(session, projection.AGGREGATE, str(hook.id))
    return await _record(session, store, projection.SECRET_ROTATED, values, expected_version=version), secret


async def delete_hook(session: AsyncSession, store: EventStore, principal: Principal, hook_id: UUID) -> None:
    require_role(principal, MANAGERS)
    hook = await _tenant_hook(session, principal.tenant_id, hook_id)
    version = await store.version_of(session, projection.AGGREGATE, str(hook.id))
    try:
        await store.record_internal(session, projection.DELETED, {"id": str(hook.id), "name": hook.name},
                                    aggregate_type=projection.AGGREGATE, aggregate_id=str(hook.id),
                                    expected_version=version, tenant_id=hook.tenant_id)
    except ConcurrencyError:
        raise Conflict("the hook changed meanwhile; try again") from None


async def get_hook(session: AsyncSession, principal: Principal, hook_id: UUID) -> InboundHook:
    require_role(principal, READERS)
    return await _tenant_hook(session, principal.tenant_id, hook_id)


async def list_hooks(session: AsyncSession, principal: Principal, *, limit: int,
                     before: UUID | None) -> list[InboundHook]:
    require_role(principal, READERS)
    return await repository.list_hooks(session, principal.tenant_id, limit=limit, before=before)


async def authenticate(session: AsyncSession, cipher: TenantCipher, hook_id: UUID, body: bytes,
                       headers: Mapping[str, str]) -> InboundHook:
    """The active hook this delivery is for, once its signature checks out; raises 404 / 401 / 403 errors."""
    hook = await repository.get_hook(session, hook_id)
    if hook is None or not hook.active:
        raise NotFound("no such hook", code="hook_not_found")
    try:
        keys = await _secrets(session, cipher, hook)
    except CryptoError:
        log.exception("hook secret unreadable (data key shredded or rotated away)", hook_id=str(hook.id))
        raise NotFound("no such hook", code="hook_not_found") from None
    scheme = signatures.SignatureScheme(hook.signature_scheme, hook.signature_header,  # type: ignore[arg-type]
                                        hook.signature_encoding, hook.signature_prefix)  # type: ignore[arg-type]
    signatures.verify(scheme, keys, body, headers)
    return hook


async def process_generic(session: AsyncSession, store: EventStore, record: WebhookRecord) -> str:
    """Map a stored hook delivery to its business event (``webhook.mapped``); ``Unreadable`` quarantines it."""
    hook = await repository.get_hook(session, record.hook_id) if record.hook_id else None
    if hook is None or hook.tenant_id != record.tenant_id:
        raise Unreadable(f"inbound hook {record.hook_id} no longer exists")
    payload = payloads.parse_body(record.body, payloads.content_type_of(record.headers))
    mapped = mapping.apply(hook.mapping, payload, default_event=hook.event, default_region=hook.default_region)
    event = HookEventMapped(webhook_id=record.id, hook_id=hook.id, hook=hook.name, event=mapped.event,
                            phone=mapped.phone, variables=mapped.variables, received_at=record.received_at)
    try:
        await store.record(session, event, aggregate_type="hook-event", aggregate_id=str(record.id),
                           expected_version=0, tenant_id=record.tenant_id)
    except ConcurrencyError:
        log.info("hook delivery already mapped", webhook_id=str(record.id))
    await webhooks.set_webhook_status(session, record.id, "processed", None, datetime.now(UTC))
    return "processed"


async def _secrets(session: AsyncSession, cipher: TenantCipher, hook: InboundHook) -> list[str]:
    sealed = [hook.secret_ciphertext]
    if hook.previous_secret_ciphertext and hook.previous_secret_expires_at \
            and hook.previous_secret_expires_at > datetime.now(UTC):
        sealed.append(hook.previous_secret_ciphertext)
    return [(await cipher.decrypt(session, hook.tenant_id, s, secret_context(hook.id))).decode() for s in sealed]


def _new_or_given_secret(scheme: signatures.Scheme, given: str | None) -> str:
    if given is None:
        return signatures.new_secret(scheme)
    problem = signatures.secret_problem(scheme, given)
    if problem:
        raise InvalidMapping(problem, code="invalid_secret", details=[{"field": "secret", "problem": problem}])
    return given


async def _tenant_hook(session: AsyncSession, tenant_id: UUID, hook_id: UUID) -> InboundHook:
    hook = await repository.get_tenant_hook(session, tenant_id, hook_id)
    if hook is None:
        raise NotFound("no such hook", code="hook_not_found")
    return hook


def _values(hook: InboundHook) -> dict[str, Any]:
    return {column.key: getattr(hook, column.key) for column in InboundHook.__table__.columns}


async def _record(session: AsyncSession, store: EventStore, event_type: str, values: dict[str, Any], *,
                  expected_version: int) -> InboundHook:
    try:
        await store.record_internal(session, event_type, projection.to_event_data(values),
                                    aggregate_type=projection.AGGREGATE, aggregate_id=str(values["id"]),
                                    expected_version=expected_version, tenant_id=values["tenant_id"])
    except ConcurrencyError:
        raise Conflict("the hook changed meanwhile; try again") from None
    hook = await repository.get_hook(session, values["id"])
    if hook is None:
        raise RuntimeError("inbound-hook events are not projected: build ingest's EventStore with "
                           "projector=parley.ingest.hooks.projection.with_hooks(service.project)")
    return hook

