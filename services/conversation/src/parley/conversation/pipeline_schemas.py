"""API shapes of the kanban pipeline."""

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

StageName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)]
Money = Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=2)]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
CustomFields = Annotated[dict[str, Any], Field(max_length=50)]


class StageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: StageName
    position: int | None = Field(default=None, ge=0, description="Where to insert it; the end when omitted")


class StagePatch(BaseModel):
    """Rename and/or move a stage; omitted fields keep their value."""

    model_config = ConfigDict(extra="forbid")

    name: StageName | None = None
    position: int | None = Field(default=None, ge=0)


class StageOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    name: str
    position: int
    created_at: datetime


class LeadIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    contact_id: UUID
    stage_id: UUID
    position: int | None = Field(default=None, ge=0, description="Place in the stage; the end when omitted")
    title: str | None = Field(default=None, max_length=200)
    value: Money | None = None
    currency: Currency | None = None
    owner_id: UUID | None = None
    custom_fields: CustomFields = Field(default_factory=dict)


class LeadPatch(BaseModel):
    """Move and/or edit a card. ``custom_fields`` is merged (a null value removes that key); null clears a field."""

    model_config = ConfigDict(extra="forbid")

    stage_id: UUID | None = None
    position: int | None = Field(default=None, ge=0)
    title: str | None = Field(default=None, max_length=200)
    value: Money | None = None
    currency: Currency | None = None
    owner_id: UUID | None = None
    custom_fields: CustomFields | None = None


class LeadOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    contact_id: UUID
    wa_id: str
    stage_id: UUID
    position: int
    title: str | None
    value: Decimal | None
    currency: str | None
    owner_id: UUID | None
    custom_fields: dict[str, Any]
    created_at: datetime
    updated_at: datetime
