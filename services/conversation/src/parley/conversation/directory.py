"""Contacts, agents and teams: who the inbox talks to and who answers."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from uuid import UUID

from sqlalchemy import ColumnElement
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from parley.contracts import Envelope, new_event_id
from parley.contracts.events.contacts import ContactUpdated
from parley.contracts.events.users import UserCreated, UserRemoved, UserUpdated
from parley.conversation import repository
from parley.conversation.repository import Keyset
from parley.conversation.schemas import AgentOut, AgentPatch, ContactOut, ContactPatch, TeamOut
from parley.conversation.service import MANAGERS, Unprocessable, contact_out, visibility
from parley.kit.auth import Principal
from parley.kit.errors import Conflict, Forbidden, NotFound
from parley.kit.eventstore import ConcurrencyError, EventStore

RACE_LOST = "it was changed at the same moment; try again"


@contextmanager
def _conflict_on_race(message: str = RACE_LOST) -> Iterator[None]:
    """A write that lost a race (its aggregate moved on, or a unique row appeared meanwhile) answers 409."""
    try:
        yield
    except (ConcurrencyError, IntegrityError):
        raise Conflict(message) from None


async def _contact_visibility(session: AsyncSession, principal: Principal) -> ColumnElement[bool] | None:
    """Owners, admins and managers see every contact; an agent those with a conversation the agent may see."""
    return repository.contact_visibility(await visibility(session, principal))


async def list_contacts(session: AsyncSession, principal: Principal, *, q: str | None, label: str | None,
                        limit: int, after: Keyset | None) -> tuple[list[ContactOut], Keyset | None]:
    """A page of the contacts the caller may see, newest first, and the keyset of the next page."""
    rows = await repository.list_contacts(session, principal.tenant_id, q=q, label=label, limit=limit, after=after,
                                          visible=await _contact_visibility(session, principal))
    page = rows[:limit]
    following = (page[-1].created_at, page[-1].id) if len(rows) > limit else None
    return [contact_out(c) for c in page], following


async def get_contact(session: AsyncSession, principal: Principal, contact_id: UUID) -> ContactOut:
    contact = await repository.contact(session, principal.tenant_id, contact_id,
                                       visible=await _contact_visibility(session, principal))
    if contact is None:
        raise NotFound("no such contact")
    return contact_out(contact)


async def update_contact(session: AsyncSession, store: EventStore, principal: Principal, contact_id: UUID,
                         patch: ContactPatch) -> ContactOut:
    contact = await repository.contact(session, principal.tenant_id, contact_id, lock=True,
                                       visible=await _contact_visibility(session, principal))
    if contact is None:
        raise NotFound("no such contact")
    attributes, labels = dict(contact.attributes or {}), list(contact.labels or [])
    if patch.attributes is not None:
        for key, value in patch.attributes.items():
            if value is None:
                attributes.pop(key, None)
            else:
                attributes[key] = value
    if patch.labels is not None:
        labels = patch.labels
    changed = [name for name, new, old in (("attributes", attributes, contact.attributes or {}),
                                           ("labels", labels, contact.labels or [])) if new != old]
    if changed:
        with _conflict_on_race():
            await store.record(session, ContactUpdated(
                contact_id=contact.id, wa_id=contact.wa_id, attributes=attributes, labels=labels, changed=changed),
                aggregate_type="contact", aggregate_id=str(contact.id), expected_version=contact.version,
                tenant_id=principal.tenant_id)
    session.expunge(contact)
    refreshed = await repository.contact(session, principal.tenant_id, contact_id)
    assert refreshed is not None
    return contact_out(refreshed)


# -- agents: projected from the gateway's user.changed, plus availability and cap set here ------------------


async def sync_user(session: AsyncSession, store: EventStore, envelope: Envelope) -> None:
    """Mirror a gateway user as an agent (internal events, so ``rebuild`` reproduces agents too)."""
    user = envelope.payload()
    aggregate_id = f"{user.tenant_id}:{user.user_id}"
    await repository.lock_agent(session, user.tenant_id, user.user_id)  # an agent's own PATCH may be appending
    version = await store.version_of(session, "agent", aggregate_id)
    if isinstance(user, UserCreated | UserUpdated):
        data = {"user_id": str(user.user_id), "email": user.email, "name": user.name, "role": user.role,
                "status": user.status}
        await store.record_internal(session, "agent.synced", data, aggregate_type="agent", aggregate_id=aggregate_id,
                                    expected_version=version, tenant_id=user.tenant_id)
    elif isinstance(user, UserRemoved):
        await store.record_internal(session, "agent.removed", {"user_id": str(user.user_id)}, aggregate_type="agent",
                                    aggregate_id=aggregate_id, expected_version=version, tenant_id=user.tenant_id)


async def list_agents(session: AsyncSession, principal: Principal) -> list[AgentOut]:
    return [AgentOut(user_id=a.user_id, email=a.email, name=a.name, role=a.role, status=a.status,
                     available=a.available, max_open=a.max_open, open_conversations=load)
            for a, load in await repository.list_agents(session, principal.tenant_id)]


async def update_agent(session: AsyncSession, store: EventStore, principal: Principal, user_id: UUID,
                       patch: AgentPatch) -> AgentOut:
    """Agents set their own availability; managers set anyone's, and the per-agent cap."""
    if principal.role not in MANAGERS and (user_id != principal.user_id or patch.max_open is not None):
        raise Forbidden("agents can only set their own availability")
    agent = await repository.lock_agent(session, principal.tenant_id, user_id)
    if agent is None:
        raise NotFound("no such agent")
    data = {k: v for k, v in patch.model_dump(exclude_none=True).items()}
    if data:
        aggregate_id = f"{principal.tenant_id}:{user_id}"
        with _conflict_on_race():
            await store.record_internal(session, "agent.settings-changed", {"user_id": str(user_id), **data},
                                        aggregate_type="agent", aggregate_id=aggregate_id,
                                        expected_version=await store.version_of(session, "agent", aggregate_id),
                                        tenant_id=principal.tenant_id)
    return next(a for a in await list_agents(session, principal) if a.user_id == user_id)


# -- teams ------------------------------------------------------------------------------------------------


def _require_manager(principal: Principal) -> None:
    if principal.role not in MANAGERS:
        raise Forbidden("only owners, admins and managers manage teams")


async def list_teams(session: AsyncSession, principal: Principal) -> list[TeamOut]:
    return [TeamOut(id=t.id, name=t.name, member_ids=members, created_at=t.created_at)
            for t, members in await repository.list_teams(session, principal.tenant_id)]


async def get_team(session: AsyncSession, principal: Principal, team_id: UUID) -> TeamOut:
    found = next((t for t in await list_teams(session, principal) if t.id == team_id), None)
    if found is None:
        raise NotFound("no such team")
    return found


async def _lock_team(session: AsyncSession, principal: Principal, team_id: UUID) -> TeamOut:
    """The team as it is once this request holds its lock (a writer that was first has committed by then)."""
    if await repository.lock_team(session, principal.tenant_id, team_id) is None:
        raise NotFound("no such team")
    return await get_team(session, principal, team_id)


async def _team_event(session: AsyncSession, store: EventStore, principal: Principal, event_type: str,
                      team_id: UUID, data: dict[str, str], *, conflict: str = RACE_LOST) -> None:
    aggregate_id = str(team_id)
    with _conflict_on_race(conflict):
        await store.record_internal(session, event_type, {"team_id": str(team_id), **data}, aggregate_type="team",
                                    aggregate_id=aggregate_id,
                                    expected_version=await store.version_of(session, "team", aggregate_id),
                                    tenant_id=principal.tenant_id)


async def save_team(session: AsyncSession, store: EventStore, principal: Principal, name: str,
                    team_id: UUID | None = None) -> TeamOut:
    """Create a team (``team_id`` None) or rename one; names are unique per tenant.

    Two creations of one name at once both pass the name check: the unique index stops the later, a 409."""
    _require_manager(principal)
    if team_id is not None:
        await _lock_team(session, principal, team_id)
    same_name = await repository.team_by_name(session, principal.tenant_id, name)
    if same_name is not None and same_name.id != team_id:
        raise Conflict("a team with this name exists", details={"team_id": str(same_name.id)})
    team_id = team_id or new_event_id()
    await _team_event(session, store, principal, "team.saved", team_id, {"name": name},
                      conflict="a team with this name exists")
    return await get_team(session, principal, team_id)


async def delete_team(session: AsyncSession, store: EventStore, principal: Principal, team_id: UUID) -> None:
    _require_manager(principal)
    await _lock_team(session, principal, team_id)
    await _team_event(session, store, principal, "team.deleted", team_id, {})


async def add_member(session: AsyncSession, store: EventStore, principal: Principal, team_id: UUID,
                     user_id: UUID) -> TeamOut:
    _require_manager(principal)
    team = await _lock_team(session, principal, team_id)
    if await repository.lock_agent(session, principal.tenant_id, user_id) is None:  # not removed meanwhile
        raise Unprocessable("the user is not known in this tenant", code="unknown_agent")
    if user_id not in team.member_ids:
        await _team_event(session, store, principal, "team.member-added", team_id, {"user_id": str(user_id)})
    return await get_team(session, principal, team_id)


async def remove_member(session: AsyncSession, store: EventStore, principal: Principal, team_id: UUID,
                        user_id: UUID) -> TeamOut:
    _require_manager(principal)
    team = await _lock_team(session, principal, team_id)
    if user_id not in team.member_ids:
        raise NotFound("the user is not a member of this team")
    await _team_event(session, store, principal, "team.member-removed", team_id, {"user_id": str(user_id)})
    return await get_team(session, principal, team_id)
