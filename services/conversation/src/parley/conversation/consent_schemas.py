"""API shapes of opt-outs, opt-out keywords and the blocklist."""

import re
from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from parley.conversation.keywords import normalize


def _wa_id(value: str) -> str:
    """A WhatsApp id is the customer's number in digits; spaces, dashes, dots, brackets and a leading + are dropped."""
    digits = re.sub(r"[\s().-]", "", value).removeprefix("+")
    if not re.fullmatch(r"[1-9][0-9]{6,14}", digits):
        raise ValueError("must be a phone number in international format, e.g. +55 11 98765-4321")
    return digits


WaId = Annotated[str, AfterValidator(_wa_id)]
Keyword = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]


class KeywordsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    opt_out: list[Keyword] = Field(min_length=1, max_length=50)
    opt_in: list[Keyword] = Field(default_factory=list, max_length=50)

    @model_validator(mode="after")
    def _disjoint(self) -> "KeywordsIn":
        both = {normalize(k) for k in self.opt_out} & {normalize(k) for k in self.opt_in}
        if both:
            raise ValueError(f"a keyword cannot both opt out and opt in: {sorted(both)}")
        return self


class KeywordsOut(BaseModel):
    opt_out: list[str]
    opt_in: list[str]
    default: bool = Field(description="True while the tenant uses the built-in keywords")


class OptOutIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    wa_id: WaId
    reason: Reason | None = None


class OptOutOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    wa_id: str
    source: str
    keyword: str | None
    wamid: str | None
    reason: str | None
    opted_out_at: datetime = Field(validation_alias="changed_at")


class BlockIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    wa_id: WaId
    reason: Reason | None = None


class BlockedOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    wa_id: str
    reason: str | None
    blocked_by: UUID | None
    blocked_at: datetime
