"""The tenant's kanban pipeline: ordered stages and one lead card per contact, for the realtime board."""

from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from pydantic import Field

from parley.contracts.events.base import Payload


class PipelineStageCreated(Payload):
    tenant_id: UUID
    stage_id: UUID
    name: str
    position: int = Field(ge=0, description="0-based place of the stage on the board")
    created_at: datetime


class PipelineStageUpdated(Payload):
    """A stage was renamed or moved; ``position`` is its place after the change (others shift around it)."""

    tenant_id: UUID
    stage_id: UUID
    name: str
    position: int = Field(ge=0)
    previous_position: int = Field(ge=0)


class PipelineStageDeleted(Payload):
    """A stage was removed; its leads were first moved to ``leads_moved_to`` (appended in their order)."""

    tenant_id: UUID
    stage_id: UUID
    position: int = Field(ge=0, description="Where the stage was; the stages after it move up by one")
    leads_moved_to: UUID | None = None


class PipelineLeadCreated(Payload):
    tenant_id: UUID
    lead_id: UUID
    contact_id: UUID
    wa_id: str
    stage_id: UUID
    position: int = Field(ge=0, description="0-based place of the card in its stage")
    title: str | None = None
    value: Decimal | None = None
    currency: str | None = None
    owner_id: UUID | None = None
    custom_fields: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime


class PipelineLeadMoved(Payload):
    """A card moved to ``stage_id`` at ``position``; cards after its old and new places shift by one."""

    tenant_id: UUID
    lead_id: UUID
    wa_id: str
    stage_id: UUID
    position: int = Field(ge=0)
    from_stage_id: UUID
    from_position: int = Field(ge=0)
    moved_at: datetime


class PipelineLeadUpdated(Payload):
    """The card's details after the change (the whole state, not a diff)."""

    tenant_id: UUID
    lead_id: UUID
    wa_id: str
    stage_id: UUID
    position: int = Field(ge=0)
    title: str | None = None
    value: Decimal | None = None
    currency: str | None = None
    owner_id: UUID | None = None
    custom_fields: dict[str, Any] = Field(default_factory=dict)
    updated_at: datetime
