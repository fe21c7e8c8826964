"""Settings of the gateway service (env prefix ``GATEWAY_``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from parley.kit.settings import ServiceSettings


class GatewaySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore", populate_by_name=True)

    service_name: str = "gateway"
    port: int = 8080
    database_schema: str = "gateway"
    jwt_private_key: SecretStr | None = Field(None, description="Ed25519 private key (PEM) signing tokens")
    jwt_private_key_file: Path | None = Field(None, description="File holding the PEM, when not given inline")
    access_token_ttl_seconds: int = Field(900, gt=0, le=86_400)
    service_urls: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=dict,
        description="name=base_url pairs, comma-separated: where the gateway finds every service",
    )
    upstream_timeout_seconds: float = Field(10.0, gt=0)
    refresh_token_ttl_seconds: int = Field(30 * 86_400, gt=0, description="Lifetime of a refresh token")
    invitation_ttl_seconds: int = Field(7 * 86_400, gt=0, description="How long an invitation can be accepted")
    signup_plan: str = Field("free", description="The plan a tenant gets at sign-up")
    login_failures_per_account: int = Field(10, gt=0, description="Failed logins per account per window")
    login_failures_per_address: int = Field(100, gt=0, description="Failed logins per client address per window")
    login_throttle_window_seconds: int = Field(900, gt=0)
    tenant_cache_seconds: int = Field(30, gt=0, description="How long a replica trusts a cached tenant status")
    tenant_rate_per_minute: int = Field(6000, gt=0, description="Requests per minute per tenant (GCRA)")
    tenant_rate_burst: int = Field(300, gt=0)
    api_key_rate_per_minute: int = Field(600, gt=0, description="Default requests per minute per API key")
    api_key_rate_burst: int = Field(60, gt=0)
    max_body_bytes: int = Field(256 * 1024, gt=0, description="Largest request body the public API accepts")
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Comma-separated origins allowed by CORS; empty: CORS off")
    smtp_host: str | None = Field(None, description="SMTP server for invitation e-mails; unset: tokens are returned")
    smtp_port: int = 587
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = Field(True, description="Upgrade the SMTP connection with STARTTLS")
    smtp_from: str = "Parley <no-reply@parley.invalid>"
    invitation_accept_url: str | None = Field(None, description="Link in the e-mail; the token is appended")
    operator_token: SecretStr | None = Field(
        None, description="Bearer token of the operator API (/admin/tenants); unset: that API refuses everything")
    openapi_refresh_seconds: float = Field(60.0, gt=0, description="How often the services' OpenAPI is refetched")

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _parse_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value
    realtime_topics: Annotated[list[str], NoDecode] = Field(
        default=["conversation.changed", "pipeline.changed", "contact.changed"],
        description="Topics pushed on /v1/realtime, comma-separated; those not in the contracts are skipped",
    )
    realtime_horizon_seconds: int = Field(86_400, gt=0, description="How far back a client can resume")
    realtime_stream_max_len: int = Field(10_000, gt=0, description="Events kept per tenant for resuming")
    realtime_heartbeat_seconds: float = Field(15.0, gt=0)
    realtime_send_queue: int = Field(256, gt=0, description="Frames waiting for one socket before it is dropped")

    @field_validator("service_urls", mode="before")
    @classmethod
    def _parse_service_urls(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        urls: dict[str, str] = {}
        for pair in filter(None, (p.strip() for p in value.split(","))):
            name, sep, url = pair.partition("=")
            if not sep or not name.strip() or not url.strip():
                raise ValueError(f"expected name=url, got {pair!r}")
            urls[name.strip()] = url.strip().rstrip("/")
        return urls

    @field_validator("realtime_topics", mode="before")
    @classmethod
    def _parse_topics(cls, value: object) -> object:
        return [t.strip() for t in value.split(",") if t.strip()] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _require_signing_key_outside_development(self) -> GatewaySettings:
        if self.env != "development" and self.jwt_private_key is None and self.jwt_private_key_file is None:
            raise ValueError(
                f"no token signing key with PARLEY_ENV={self.env}: set GATEWAY_JWT_PRIVATE_KEY (Ed25519 PEM) "
                "or GATEWAY_JWT_PRIVATE_KEY_FILE"
            )
        return self

    def upstreams(self) -> dict[str, str]:
        """Base URLs of the other services (the gateway's own entry left out)."""
        return {name: url for name, url in self.service_urls.items() if name != self.service_name}
