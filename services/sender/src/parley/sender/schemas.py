"""API shapes of the sender: channels (the access token goes in, never out)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

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
    registered_at: datetime
