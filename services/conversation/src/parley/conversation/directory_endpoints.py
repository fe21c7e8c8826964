"""Contacts, agents and teams API (under /v1/contacts, /v1/agents, /v1/teams)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Response

from parley.conversation import directory
from parley.conversation.endpoints import Limit, keyset
from parley.conversation.schemas import AgentOut, AgentPatch, ContactOut, ContactPatch, MemberIn, TeamIn, TeamOut
from parley.kit.auth import CurrentPrincipal
from parley.kit.pagination import Page, PageInfo, encode_cursor
from parley.kit.service import CurrentService, TenantSession

contacts = APIRouter(prefix="/v1/contacts", tags=["contacts"])
agents = APIRouter(prefix="/v1/agents", tags=["agents"])
teams = APIRouter(prefix="/v1/teams", tags=["teams"])


@contacts.get("", response_model=Page[ContactOut],
              summary="Contacts, newest first; search by name or phone. Agents see the contacts of the "
                      "conversations they see")
async def list_contacts(principal: CurrentPrincipal, session: TenantSession, limit: Limit = 50,
                        cursor: str | None = None,
                        q: Annotated[str | None, Query(max_length=100)] = None,
                        label: str | None = None) -> Page[ContactOut]:
    data, following = await directory.list_contacts(session, principal, q=q or None,
                                                    label=label.strip().lower() if label else None, limit=limit,
                                                    after=keyset(cursor))
    next_cursor = encode_cursor(following[0].isoformat(), following[1]) if following else None
    return Page(data=data, pagination=PageInfo(limit=limit, has_more=next_cursor is not None, next_cursor=next_cursor))


@contacts.get("/{contact_id}", response_model=ContactOut, summary="One contact")
async def get_contact(contact_id: UUID, principal: CurrentPrincipal, session: TenantSession) -> ContactOut:
    return await directory.get_contact(session, principal, contact_id)


@contacts.patch("/{contact_id}", response_model=ContactOut, summary="Set custom attributes and labels")
async def update_contact(contact_id: UUID, patch: ContactPatch, principal: CurrentPrincipal, session: TenantSession,
                         svc: CurrentService) -> ContactOut:
    return await directory.update_contact(session, svc.store, principal, contact_id, patch)


@agents.get("", response_model=list[AgentOut], summary="Agents with availability, cap and current load")
async def list_agents(principal: CurrentPrincipal, session: TenantSession) -> list[AgentOut]:
    return await directory.list_agents(session, principal)


@agents.patch("/{user_id}", response_model=AgentOut, summary="Availability (own) and per-agent cap (managers)")
async def update_agent(user_id: UUID, patch: AgentPatch, principal: CurrentPrincipal, session: TenantSession,
                       svc: CurrentService) -> AgentOut:
    return await directory.update_agent(session, svc.store, principal, user_id, patch)


@teams.get("", response_model=list[TeamOut], summary="Teams with their members")
async def list_teams(principal: CurrentPrincipal, session: TenantSession) -> list[TeamOut]:
    return await directory.list_teams(session, principal)


@teams.post("", response_model=TeamOut, status_code=201, summary="Create a team")
async def create_team(body: TeamIn, principal: CurrentPrincipal, session: TenantSession,
                      svc: CurrentService) -> TeamOut:
    return await directory.save_team(session, svc.store, principal, body.name.strip())


@teams.get("/{team_id}", response_model=TeamOut, summary="One team")
async def get_team(team_id: UUID, principal: CurrentPrincipal, session: TenantSession) -> TeamOut:
    return await directory.get_team(session, principal, team_id)


@teams.patch("/{team_id}", response_model=TeamOut, summary="Rename a team")
async def rename_team(team_id: UUID, body: TeamIn, principal: CurrentPrincipal, session: TenantSession,
                      svc: CurrentService) -> TeamOut:
    return await directory.save_team(session, svc.store, principal, body.name.strip(), team_id)


@teams.delete("/{team_id}", status_code=204, summary="Delete a team (its conversations keep no team)")
async def delete_team(team_id: UUID, principal: CurrentPrincipal, session: TenantSession,
                      svc: CurrentService) -> Response:
    await directory.delete_team(session, svc.store, principal, team_id)
    return Response(status_code=204)


@teams.post("/{team_id}/members", response_model=TeamOut, summary="Add a member")
async def add_member(team_id: UUID, body: MemberIn, principal: CurrentPrincipal, session: TenantSession,
                     svc: CurrentService) -> TeamOut:
    return await directory.add_member(session, svc.store, principal, team_id, body.user_id)


@teams.delete("/{team_id}/members/{user_id}", response_model=TeamOut, summary="Remove a member")
async def remove_member(team_id: UUID, user_id: UUID, principal: CurrentPrincipal, session: TenantSession,
                        svc: CurrentService) -> TeamOut:
    return await directory.remove_member(session, svc.store, principal, team_id, user_id)
