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
