"""API shapes of the sender: channels (the access token goes in, never out), their statistics, pools."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, Field, Secret, StringConstraints

#: Printable ASCII only: it travels in an HTTP header to Meta (found by the gateway's schemathesis run).
AccessToken = Secret[Annotated[str, StringConstraints(min_length=1, max_length=4096, pattern=r"^[\x21-\x7e]+$")]]


class ChannelCreate(BaseModel):
    phone_number_id: str = Field(pattern=r"^\d{1,64}$")
    waba_id: str = Field(pattern=r"^\d{1,64}$")
    display_phone_number: str = Field(min_length=3, max_length=32)
    access_token: AccessToken


class TokenReplacement(BaseModel):
    access_token: AccessToken


class ChannelOut(BaseModel):
    phone_number_id: str
    waba_id: str
    display_phone_number: str
    verified_name: str | None
    status: str
    paused: bool = False
    throughput_per_second: float | None = None
    registered_at: datetime


class ChannelChange(BaseModel):
    throughput_per_second: float | None = Field(
        default=None, gt=0, le=1000,
        description="The number's own send rate (Meta: 80 by default, up to 1000); null = the default")


class ChannelStats(BaseModel):
    phone_number_id: str
    status: str
    paused: bool
    paused_reason: str | None
    throughput_per_second: float = Field(description="The number's setting (or the service-wide default)")
    effective_throughput_per_second: float = Field(description="What it sends at now (lower while slowed)")
    slowed_until: datetime | None
    slowed_reason: str | None
    health_score: float
    healthy: bool
    consecutive_failures: int
    accepted: int
    failed: int
    delivered: int
    read: int
    queued: int = Field(description="Messages waiting to go out from this number")
    last_error_code: int | None
    last_failure_at: datetime | None


class PoolCreate(BaseModel):
    name: str = Field(min_length=1, max_length=128)
    phone_number_ids: list[str] = Field(default_factory=list, max_length=100)


class PoolChange(BaseModel):
    name: str = Field(min_length=1, max_length=128)


class PoolOut(BaseModel):
    id: UUID
    name: str
    phone_number_ids: list[str]
    created_at: datetime
