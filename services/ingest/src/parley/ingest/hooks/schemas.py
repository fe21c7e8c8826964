"""API shapes of inbound hooks."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator

from parley.ingest.hooks.signatures import DEFAULT_HMAC_HEADER, HMAC_SHA256, Scheme

EVENT_NAME = r"^[a-z][a-z0-9_-]*(\.[a-z0-9_-]+)*$"
HOOK_NAME = r"^[a-z0-9][a-z0-9_.-]*$"
HEADER_NAME = r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$"


class SignatureIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scheme: Scheme = Field(description="`standard-webhooks` (webhook-id/-timestamp/-signature headers) or "
                                       "`hmac-sha256` (HMAC-SHA256 of the raw body in one header)")
    header: str | None = Field(None, max_length=100, pattern=HEADER_NAME,
                               description=f"hmac-sha256 only: the header carrying the digest ({DEFAULT_HMAC_HEADER})")
    encoding: Literal["hex", "base64"] | None = Field(None, description="hmac-sha256 only: digest encoding (hex)")
    prefix: str | None = Field(None, max_length=32, examples=["sha256="],
                               description="hmac-sha256 only: text before the digest, e.g. `sha256=`")

    @model_validator(mode="after")
    def _hmac_options_only_for_hmac(self) -> SignatureIn:
        if self.scheme == HMAC_SHA256:
            self.header = self.header or DEFAULT_HMAC_HEADER
            self.encoding = self.encoding or "hex"
        elif self.header or self.encoding or self.prefix:
            raise ValueError("header, encoding and prefix apply to hmac-sha256 only; Standard Webhooks uses "
                             "the webhook-id, webhook-timestamp and webhook-signature headers")
        return self


class MappingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    phone: str | None = Field(None, examples=["data.buyer.phone"], description="Path of the customer's phone")
    variables: dict[str, str] = Field(default_factory=dict, examples=[{"product": "data.product.name",
                                                                       "first_sku": "items[0].sku"}])
    event_path: str | None = Field(None, description="Path of the event name in the payload; the hook's "
                                                     "`event` is used when it is absent")


class HookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, pattern=HOOK_NAME, examples=["hotmart-purchases"])
    event: str = Field(max_length=128, pattern=EVENT_NAME, examples=["purchase.approved"])
    signature: SignatureIn
    mapping: MappingIn = Field(default_factory=MappingIn)
    default_region: str | None = Field(None, min_length=2, max_length=2, examples=["BR"],
                                       description="Region for phones written without a country code")
    secret: str | None = Field(None, min_length=16, max_length=256,
                               description="The sender's own secret; generated (and shown once) when omitted")
    sample: dict[str, Any] | None = Field(None, description="An example payload the mapping is checked against")


class HookUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=100, pattern=HOOK_NAME)
    event: str | None = Field(None, max_length=128, pattern=EVENT_NAME)
    mapping: MappingIn | None = None
    default_region: str | None = Field(None, min_length=2, max_length=2)
    active: bool | None = None
    sample: dict[str, Any] | None = None


class SecretRotation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    secret: str | None = Field(None, min_length=16, max_length=256)
    grace_period_seconds: int = Field(86_400, ge=0, le=7 * 86_400,
                                      description="How long the previous secret is still accepted")


class SignatureOut(BaseModel):
    scheme: Scheme
    header: str | None = None
    encoding: str | None = None
    prefix: str | None = None


class HookOut(BaseModel):
    id: UUID
    name: str
    event: str
    signature: SignatureOut
    mapping: MappingIn
    default_region: str | None
    active: bool
    receive_path: str = Field(description="POST signed payloads here, on the ingest service")
    previous_secret_expires_at: datetime | None
    created_at: datetime
    updated_at: datetime


class HookWithSecret(HookOut):
    secret: str = Field(description="Shown once: store it in the sending system now")
