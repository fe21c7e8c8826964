"""Request and response shapes of the gateway's own API."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from parley.contracts.events.tenants import PlanLimits
from parley.gateway.models import Role

Email = Field(min_length=3, max_length=320, examples=["owner@example.com"])
# Bounded so nobody makes us hash megabytes.
Password = Field(min_length=1, max_length=1024)
NewPassword = Field(min_length=8, max_length=1024, description="At least 8 characters")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoginRequest(Strict):
    email: str = Email
    password: str = Password


class SignupRequest(Strict):
    tenant_name: str = Field(min_length=1, max_length=200, examples=["Acme Ltd"])
    email: str = Email
    password: str = NewPassword


class RefreshRequest(Strict):
    refresh_token: str = Field(min_length=1, max_length=512)


class LogoutRequest(Strict):
    refresh_token: str | None = Field(None, max_length=512, description="Ends this session too")


class AcceptInvitationRequest(Strict):
    token: str = Field(min_length=1, max_length=512)
    password: str = NewPassword
    name: str | None = Field(None, max_length=200)


class LoginResponse(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Seconds until the access token expires")
    refresh_token: str = Field(description="Use once at /v1/auth/refresh; a reused one revokes the session")
    refresh_expires_in: int


class JsonWebKey(BaseModel):
    kty: str
    crv: str
    x: str
    kid: str
    alg: str
    use: str


class JsonWebKeySet(BaseModel):
    keys: list[JsonWebKey]


class ErrorBody(BaseModel):
    code: str
    message: str
    details: Any = None


class ErrorResponse(BaseModel):
    success: Literal[False] = False
    error: ErrorBody


class TenantOut(BaseModel):
    id: UUID
    name: str
    plan: str
    status: str
    limits: PlanLimits
    features: list[str]


class UserOut(BaseModel):
    id: UUID
    email: str
    name: str | None
    role: Role
    status: str
    created_at: datetime


class UserPatch(Strict):
    role: Role | None = None
    name: str | None = Field(None, max_length=200)
    status: Literal["active", "disabled"] | None = None


class InvitationRequest(Strict):
    email: str = Email
    role: Role = "agent"


class InvitationOut(BaseModel):
    id: UUID
    email: str
    role: Role
    expires_at: datetime
    token: str | None = Field(description="Without SMTP: hand this to the invitee (shown only now); with: null")
    delivery: Literal["email", "token_returned"] = Field(
        description="`email`: sent to the invitee; `token_returned`: no SMTP configured, the inviter passes it on")


class ApiKeyRequest(Strict):
    name: str = Field(min_length=1, max_length=200)
    scopes: list[str] = Field(min_length=1, max_length=64, examples=[["conversations:read"]])
    rate_per_minute: int | None = Field(None, gt=0, le=100_000, description="Default: the gateway's setting")


class ApiKeyOut(BaseModel):
    id: UUID
    name: str
    prefix: str = Field(description="The key's first characters, to recognise it")
    scopes: list[str]
    rate_per_minute: int | None
    created_at: datetime
    revoked_at: datetime | None


class NewApiKeyOut(ApiKeyOut):
    key: str = Field(description="The secret: shown only now, stored hashed")
