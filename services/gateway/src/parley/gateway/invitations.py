"""Inviting people by e-mail: a one-time token that, with a password, makes them a user of the tenant.

With SMTP configured the token is e-mailed; otherwise it is returned to the inviter, who hands it over.
The plan's ``agents`` limit counts users plus open invitations, at invitation and again at acceptance.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from parley.gateway import plans, repository, service
from parley.gateway.access import ROLE_RANK
from parley.gateway.events import INVITATION_ACCEPTED, INVITATION_CREATED, InvitationAccepted, InvitationCreated
from parley.gateway.models import Role, User
from parley.gateway.runtime import secret_hash
from parley.gateway.scopes import across_tenants
from parley.kit import rls
from parley.kit.errors import Conflict, Forbidden, NotFound
from parley.kit.eventstore import EventStore

INVITATION_TOKEN_PREFIX = "inv_"


@dataclass(frozen=True)
class IssuedInvitation:
    invitation_id: UUID
    email: str
    role: str
    token: str
    expires_at: datetime


async def _check_seats(session: AsyncSession, tenant_id: UUID, *, counting: int) -> None:
    tenant = await repository.get_tenant(session, tenant_id)
    if tenant is None:
        raise NotFound("no such tenant", code="tenant_not_found")
    allowed = tenant.limits.get("agents")
    if allowed is not None and counting > allowed:
        raise plans.PlanLimitReached("agents", allowed, tenant.plan)


async def invite(session: AsyncSession, store: EventStore, *, tenant_id: UUID, invited_by: UUID,
                 inviter_role: str, email: str, role: Role, ttl_seconds: int) -> IssuedInvitation:
    """Create an invitation; its token is in the result only (stored hashed)."""
    email = service.validate_email(email)
    if ROLE_RANK[role] > ROLE_RANK[inviter_role]:
        raise Forbidden(f"the {inviter_role} role may not invite {role} users", code="insufficient_role")
    if await repository.find_user_by_email_in_any_tenant(session, email) is not None:
        raise Conflict("a user with this e-mail already exists", code="email_taken")
    now = datetime.now(UTC)
    await _check_seats(session, tenant_id, counting=await repository.count_seats(session, tenant_id, now) + 1)
    token, invitation_id = INVITATION_TOKEN_PREFIX + secrets.token_urlsafe(32), uuid.uuid4()
    expires_at = now + timedelta(seconds=ttl_seconds)
    event = InvitationCreated(invitation_id=invitation_id, tenant_id=tenant_id, email=email, role=role,
                              token_hash=secret_hash(token), invited_by=invited_by, expires_at=expires_at)
    await store.record_internal(session, INVITATION_CREATED, event.model_dump(mode="json"),
                                aggregate_type="invitation", aggregate_id=str(invitation_id), expected_version=0,
                                tenant_id=tenant_id)
    return IssuedInvitation(invitation_id, email, role, token, expires_at)


async def accept(session: AsyncSession, store: EventStore, *, token: str, password: str,
                 name: str | None) -> User:
    """Turn an open invitation into a user with ``password`` (the rest of the transaction in its tenant)."""
    async with across_tenants(session):  # the token is what tells which tenant the invitation is from
        invitation = await repository.find_invitation(session, secret_hash(token))
    now = datetime.now(UTC)
    if invitation is None or invitation.accepted_at is not None or invitation.expires_at <= now:
        raise NotFound("the invitation is unknown, used or expired", code="invitation_not_found")
    await rls.scope_to_tenant(session, invitation.tenant_id)
    tenant = await repository.get_tenant(session, invitation.tenant_id)
    if tenant is None or tenant.status != "active":
        raise Forbidden("this tenant is suspended", code="tenant_suspended")
    # Open invitations hold seats; this one turns its seat into a user, so count it once.
    await _check_seats(session, invitation.tenant_id, counting=await repository.count_seats(
        session, invitation.tenant_id, now))
    user_id = await service.create_user(session, store, tenant_id=invitation.tenant_id, email=invitation.email,
                                        password=password, role=invitation.role, name=name)  # type: ignore[arg-type]
    accepted = InvitationAccepted(invitation_id=invitation.id, user_id=user_id)
    await store.record_internal(session, INVITATION_ACCEPTED, accepted.model_dump(mode="json"),
                                aggregate_type="invitation", aggregate_id=str(invitation.id), expected_version=1,
                                tenant_id=invitation.tenant_id)
    return await service.get_user(session, invitation.tenant_id, user_id)
