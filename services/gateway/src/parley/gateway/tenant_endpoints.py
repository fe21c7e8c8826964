"""The tenant's own account at the gateway: its plan, its users, invitations and API keys."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request, Response

from parley.gateway import api_keys, invitations, repository, service
from parley.gateway.access import authorize, rule_for
from parley.gateway.created_once import IdempotencyKey, respond_once
from parley.gateway.dependencies import FORWARDING_TOKEN_SECONDS, AuthenticatedCaller, Caller, CallerSession, Runtime
from parley.gateway.endpoints import ERRORS
from parley.gateway.models import ApiKey, User
from parley.gateway.schemas import (
    ApiKeyOut,
    ApiKeyRequest,
    InvitationOut,
    InvitationRequest,
    NewApiKeyOut,
    TenantOut,
    UserOut,
    UserPatch,
)
from parley.kit.errors import Forbidden, NotFound
from parley.kit.pagination import InvalidCursor, Page, PageInfo, decode_cursor, encode_cursor

router = APIRouter(responses=ERRORS)


def allowed(prefix: str) -> Callable[[Request, Caller], Awaitable[Caller]]:
    """The caller, when the role matrix lets a user session of their role do this to ``prefix``."""
    rule = rule_for(prefix)
    assert rule is not None, prefix

    async def check(request: Request, caller: AuthenticatedCaller) -> Caller:
        if caller.is_api_key:
            raise Forbidden("API keys cannot manage the tenant's account; log in as a user",
                            code="user_session_required")
        authorize(rule, request.method, caller.principal.role, caller.grant, caller.tenant)
        return caller

    return check


TenantReader = Annotated[Caller, Depends(allowed("/v1/tenant"))]
UsersCaller = Annotated[Caller, Depends(allowed("/v1/users"))]
InvitationsCaller = Annotated[Caller, Depends(allowed("/v1/invitations"))]
ApiKeysCaller = Annotated[Caller, Depends(allowed("/v1/api-keys"))]


def _caller_scope(caller: Caller) -> str:
    """Idempotency keys are the caller's own, as on forwarded requests."""
    return f"{caller.principal.tenant_id}:{caller.principal.user_id}"


def _user_out(user: User) -> UserOut:
    return UserOut(id=user.id, email=user.email, name=user.name, role=user.role,  # type: ignore[arg-type]
                   status=user.status, created_at=user.created_at)


def _key_out(key: ApiKey) -> ApiKeyOut:
    return ApiKeyOut(id=key.id, name=key.name, prefix=key.prefix, scopes=key.scopes,
                     rate_per_minute=key.rate_per_minute, created_at=key.created_at, revoked_at=key.revoked_at)


@router.get("/v1/tenant", tags=["tenant"], summary="The caller's tenant: plan, limits, features, status")
async def get_tenant(caller: TenantReader, session: CallerSession) -> TenantOut:
    tenant = await repository.get_tenant(session, caller.principal.tenant_id)
    if tenant is None:
        raise NotFound("no such tenant", code="tenant_not_found")
    return TenantOut.model_validate(tenant, from_attributes=True)


@router.get("/v1/users", tags=["users"], summary="The tenant's users, by e-mail (cursor-paginated)")
async def list_users(caller: UsersCaller, session: CallerSession, cursor: str | None = Query(None, max_length=512),
                     limit: int = Query(50, ge=1, le=200)) -> Page[UserOut]:
    after = None
    if cursor:
        email, user_id = decode_cursor(cursor, 2)
        try:
            after = (email, UUID(user_id))
        except ValueError:
            raise InvalidCursor("the cursor is not one this API issued") from None
    users = await repository.list_users(session, caller.principal.tenant_id, after=after, limit=limit + 1)
    page, more = users[:limit], len(users) > limit
    next_cursor = encode_cursor(page[-1].email, page[-1].id) if more else None
    return Page[UserOut](data=[_user_out(u) for u in page],
                         pagination=PageInfo(limit=limit, has_more=more, next_cursor=next_cursor))


@router.get("/v1/users/{user_id}", tags=["users"], summary="One user of the tenant")
async def get_user(user_id: UUID, caller: UsersCaller, session: CallerSession) -> UserOut:
    return _user_out(await service.get_user(session, caller.principal.tenant_id, user_id))


@router.patch("/v1/users/{user_id}", tags=["users"], summary="Change a user's role, name or status")
async def update_user(user_id: UUID, body: UserPatch, caller: UsersCaller, session: CallerSession,
                      runtime: Runtime) -> UserOut:
    user = await service.update_user(session, runtime.event_store(), tenant_id=caller.principal.tenant_id,
                                     actor_role=caller.principal.role, user_id=user_id, role=body.role,
                                     name=body.name, status=body.status)
    if body.status == "disabled":
        await runtime.revoke_user_tokens(user_id)
    return _user_out(user)


@router.delete("/v1/users/{user_id}", tags=["users"], status_code=204, summary="Remove a user from the tenant")
async def remove_user(user_id: UUID, caller: UsersCaller, session: CallerSession,
                      runtime: Runtime) -> Response:
    await service.remove_user(session, runtime.event_store(), tenant_id=caller.principal.tenant_id,
                              actor_role=caller.principal.role, user_id=user_id)
    await runtime.revoke_user_tokens(user_id)
    return Response(status_code=204)


@router.post("/v1/invitations", tags=["users"], status_code=201, response_model=InvitationOut,
             summary="Invite someone by e-mail; the token is returned to hand over (no e-mail is sent)")
async def invite(body: InvitationRequest, caller: InvitationsCaller, request: Request, runtime: Runtime,
                 idempotency_key: IdempotencyKey = None) -> Response:
    tenant_id, mailer = caller.principal.tenant_id, runtime.mailer

    async def create() -> InvitationOut:
        async with runtime.database().unit_of_work(tenant_id=tenant_id) as session:
            issued = await invitations.invite(
                session, runtime.event_store(), tenant_id=tenant_id, invited_by=caller.principal.user_id,
                inviter_role=caller.principal.role, email=body.email, role=body.role,
                ttl_seconds=runtime.settings.invitation_ttl_seconds)
            if mailer.enabled:  # sent before the commit: a failed delivery creates nothing
                await mailer.send(to=issued.email, role=issued.role, token=issued.token, expires_at=issued.expires_at)
        return InvitationOut(id=issued.invitation_id, email=issued.email, role=issued.role,  # type: ignore[arg-type]
                             expires_at=issued.expires_at, token=None if mailer.enabled else issued.token,
                             delivery="email" if mailer.enabled else "token_returned")

    return await respond_once(runtime, request, _caller_scope(caller), idempotency_key, create)


@router.get("/v1/api-keys", tags=["api keys"], summary="The tenant's API keys (never their secrets)")
async def list_api_keys(caller: ApiKeysCaller, session: CallerSession) -> list[ApiKeyOut]:
    return [_key_out(key) for key in await repository.list_api_keys(session, caller.principal.tenant_id)]


@router.post("/v1/api-keys", tags=["api keys"], status_code=201, response_model=NewApiKeyOut,
             summary="Create an API key with scopes; the secret is shown once")
async def create_api_key(body: ApiKeyRequest, caller: ApiKeysCaller, request: Request, runtime: Runtime,
                         idempotency_key: IdempotencyKey = None) -> Response:
    async def create() -> NewApiKeyOut:
        async with runtime.database().unit_of_work(tenant_id=caller.principal.tenant_id) as session:
            issued = await api_keys.create(session, runtime.event_store(), tenant_id=caller.principal.tenant_id,
                                           created_by=caller.principal.user_id, name=body.name, scopes=body.scopes,
                                           rate_per_minute=body.rate_per_minute)
        return NewApiKeyOut(**_key_out(issued.key).model_dump(), key=issued.secret)

    return await respond_once(runtime, request, _caller_scope(caller), idempotency_key, create)


@router.delete("/v1/api-keys/{api_key_id}", tags=["api keys"], status_code=204, summary="Revoke an API key")
async def revoke_api_key(api_key_id: UUID, caller: ApiKeysCaller, session: CallerSession,
                         runtime: Runtime) -> Response:
    await api_keys.revoke(session, runtime.event_store(), tenant_id=caller.principal.tenant_id,
                          api_key_id=api_key_id)
    # A request forwarded a moment ago carries a token minted for the key: the services refuse it from now on.
    await runtime.revoke_api_key_tokens(api_key_id, FORWARDING_TOKEN_SECONDS)
    return Response(status_code=204)
