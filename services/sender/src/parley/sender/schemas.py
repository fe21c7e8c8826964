"""API shapes of the sender: channels (the access token goes in, never out)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field, SecretStr


class ChannelCreate(BaseModel):
    phone_number_id: str = Field(pattern=r"^\d{1,64}$")
    waba_id: str = Field(pattern=r"^\d{1,64}$")
    display_phone_number: str = Field(min_length=3, max_length=32)
    access_token: SecretStr = Field(min_length=1, max_length=4096)


class TokenReplacement(BaseModel):
    access_token: SecretStr = Field(min_length=1, max_length=4096)


class ChannelOut(BaseModel):
    phone_number_id: str
    waba_id: str
    display_phone_number: str
    verified_name: str | None
    status: str
    registered_at: datetime
