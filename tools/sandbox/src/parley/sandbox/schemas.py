"""Request bodies of the sandbox's own admin API (the Graph API keeps Meta's raw JSON)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Digits = Field(pattern=r"^\d{5,20}$")


class NumberRegistration(BaseModel):
    model_config = ConfigDict(extra="forbid")

    phone_number_id: str = Digits
    display_phone_number: str = Field(pattern=r"^\d{7,15}$")
    waba_id: str = Digits
    verified_name: str = "Parley Sandbox"
    access_token: str | None = Field(None, description="only this token may use the number; default: the global ones")
    throughput: int | None = Field(None, ge=1, description="messages per second; default SANDBOX_THROUGHPUT_PER_SECOND")
    quality_rating: Literal["GREEN", "YELLOW", "RED", "UNKNOWN"] = "GREEN"


class NumberUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    display_phone_number: str | None = Field(None, pattern=r"^\d{7,15}$")
    verified_name: str | None = None
    access_token: str | None = None
    throughput: int | None = Field(None, ge=1)
    quality_rating: Literal["GREEN", "YELLOW", "RED", "UNKNOWN"] | None = None


class FaultInjection(BaseModel):
    """The next ``times`` sends from the number fail with this Graph error code."""

    code: int = Field(description="e.g. 131000, 131016, 131057, 131048, 368, 4, 80007, 190")
    times: int = Field(1, ge=1, le=100_000)


class CustomerUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    profile_name: str | None = None
    on_whatsapp: bool | None = Field(None, description="false: sends to this number fail with 131026")
    reads_messages: bool | None = Field(None, description="false: no read statuses")


class NumberChoice(BaseModel):
    phone_number_id: str | None = Field(None, description="default: the demo number, or the only registered one")


class OptOut(NumberChoice):
    text: str = "STOP"


class WebhookTarget(BaseModel):
    url: str | None
    app_secret: str | None = None
