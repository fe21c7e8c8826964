"""The gateway's authentication API: sign-up, login, refresh, logout, invitations, the JWKS."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from parley.gateway import invitations, service, sessions
from parley.gateway.created_once import IdempotencyKey, anonymous_scope, respond_once
from parley.gateway.dependencies import AuthenticatedCaller, CallerSession, Issuer, Runtime
from parley.gateway.schemas import (
    AcceptInvitationRequest,
    ErrorResponse,
    JsonWebKeySet,
    LoginRequest,
    LoginResponse,
    LogoutRequest,
    RefreshRequest,
    SignupRequest,
)
from parley.gateway.sessions import SessionTokens
from parley.kit.errors import Unauthorized
from parley.kit.service import Session

ERRORS = {status: {"model": ErrorResponse} for status in (400, 401, 403, 404, 409, 413, 422, 429)}
router = APIRouter(tags=["auth"], responses=ERRORS)


def _response(tokens: SessionTokens) -> LoginResponse:
    return LoginResponse(access_token=tokens.access_token, expires_in=tokens.expires_in,
                         refresh_token=tokens.refresh_token, refresh_expires_in=tokens.refresh_expires_in)


@router.post("/v1/auth/signup", status_code=201, response_model=LoginResponse,
             summary="Create a tenant and its owner; returns their tokens")
async def signup(body: SignupRequest, request: Request, runtime: Runtime,
                 idempotency_key: IdempotencyKey = None) -> Response:
    async def create() -> LoginResponse:
        # Unscoped: the use case finds the e-mail in any tenant, then works in the new tenant only.
        async with runtime.database().unit_of_work() as session:
            tokens = await sessions.signup(
                session, runtime.event_store(), runtime.issuer, tenant_name=body.tenant_name, email=body.email,
                password=body.password, plan=runtime.settings.signup_plan,
                refresh_ttl_seconds=runtime.settings.refresh_token_ttl_seconds)
        return _response(tokens)

    scope = anonymous_scope("signup", await request.body())
    return await respond_once(runtime, request, scope, idempotency_key, create)


@router.post("/v1/auth/login", summary="Exchange e-mail and password for an access and a refresh token")
async def login(body: LoginRequest, request: Request, session: Session, runtime: Runtime) -> LoginResponse:
    # ``session`` is unscoped: authenticate() finds the e-mail in any tenant, then scopes to the user's.
    email, address = service.normalize_email(body.email), request.client.host if request.client else "unknown"
    await runtime.login_throttle.check(email, address)
    try:
        user = await sessions.authenticate(session, email=email, password=body.password)
    except Unauthorized:
        await runtime.login_throttle.failed(email, address)
        raise
    await runtime.login_throttle.succeeded(email)
    return _response(await sessions.login(session, runtime.issuer, user,
                                          refresh_ttl_seconds=runtime.settings.refresh_token_ttl_seconds))


@router.post("/v1/auth/refresh", summary="Exchange a refresh token (once) for new tokens")
async def refresh(body: RefreshRequest, runtime: Runtime) -> LoginResponse:
    db = runtime.database()
    try:
        async with db.unit_of_work() as session:
            tokens = await sessions.refresh(session, runtime.issuer, body.refresh_token,
                                            refresh_ttl_seconds=runtime.settings.refresh_token_ttl_seconds)
    except sessions.RefreshTokenReused as reused:
        async with db.unit_of_work(tenant_id=reused.tenant_id) as session:  # committed although the request fails
            await sessions.revoke_family(session, reused.family_id)
        await runtime.revoke_session_id(str(reused.family_id))  # its access tokens too, in every service
        raise
    return _response(tokens)


@router.post("/v1/auth/logout", status_code=204,
             summary="End this login session: its access and refresh tokens stop working everywhere")
async def logout(body: LogoutRequest, caller: AuthenticatedCaller, session: CallerSession,
                 runtime: Runtime) -> Response:
    if caller.claims is not None:
        await sessions.logout(session, body.refresh_token, caller.principal.user_id, caller.claims.get("sid"))
        await runtime.revoke_session(caller.claims)
    return Response(status_code=204)


@router.post("/v1/auth/accept-invitation", status_code=201, response_model=LoginResponse,
             summary="Join a tenant with an invitation token and a password; returns tokens")
async def accept_invitation(body: AcceptInvitationRequest, request: Request, runtime: Runtime,
                            idempotency_key: IdempotencyKey = None) -> Response:
    async def create() -> LoginResponse:
        # Unscoped: the use case finds the invitation by its token, then works in its tenant only.
        async with runtime.database().unit_of_work() as session:
            user = await invitations.accept(session, runtime.event_store(), token=body.token,
                                            password=body.password, name=body.name)
            tokens = await sessions.login(session, runtime.issuer, user,
                                          refresh_ttl_seconds=runtime.settings.refresh_token_ttl_seconds)
        return _response(tokens)

    scope = anonymous_scope("accept-invitation", await request.body())
    return await respond_once(runtime, request, scope, idempotency_key, create)


@router.get("/.well-known/jwks.json", summary="Public keys that verify Parley access tokens")
async def jwks(issuer: Issuer) -> JsonWebKeySet:
    return JsonWebKeySet.model_validate(issuer.jwks())
