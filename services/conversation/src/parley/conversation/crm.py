"""Wiring of the CRM features (pipeline, consent, blocklist, exports) into the conversation service."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from parley.contracts import Envelope
from parley.conversation import consent, consent_endpoints, exports, pipeline, pipeline_endpoints
from parley.conversation.crm_models import CRM_TABLES
from parley.kit.consumer import Subscription
from parley.kit.eventstore import EventStore, Projector

ROUTERS: list[APIRouter] = [pipeline_endpoints.router, consent_endpoints.opt_outs, consent_endpoints.blocklist,
                            exports.router]
PROJECTION_TABLES: list[Table] = list(CRM_TABLES)


def projector(service_projector: Projector) -> Projector:
    """The service's projector, extended with the pipeline's and consent's events."""

    async def project(session: AsyncSession, envelope: Envelope) -> None:
        if not (await pipeline.project(session, envelope) or await consent.project(session, envelope)):
            await service_projector(session, envelope)

    return project


def subscriptions(store: EventStore) -> list[Subscription]:
    async def keywords(session: AsyncSession, envelopes: list[Envelope]) -> None:
        await consent.detect_keywords(session, store, envelopes)

    return [Subscription("conversation-optouts", ("message.received",), batch_handler=keywords,
                         event_types=frozenset({"message.received"}))]
