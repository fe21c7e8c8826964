"""Every knob of the sandbox, read from ``SANDBOX_*`` environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# The demo business number; the same values as parley.devstack.catalog (kept apart so the
# sandbox runs without the platform installed).
DEMO_PHONE_NUMBER_ID = "100000000000001"
DEMO_WABA_ID = "200000000000001"
DEMO_DISPLAY_NUMBER = "15550100001"
DEMO_VERIFIED_NAME = "Parley Demo"


class ChaosSettings(BaseSettings):
    """Webhook delivery faults Meta exhibits: duplicates, reordering, delays (all off by default)."""

    model_config = SettingsConfigDict(env_prefix="SANDBOX_CHAOS_", extra="ignore")

    duplicate_probability: float = Field(0.0, ge=0.0, le=1.0, description="chance each webhook event is sent twice")
    reorder_probability: float = Field(
        0.0, ge=0.0, le=1.0, description="chance an event is held back so later events overtake it")
    reorder_window_ms: int = Field(500, ge=0, description="longest hold-back of a reordered event")
    delay_ms: int = Field(0, ge=0, description="extra random delay (0..delay_ms) added to every event")
    seed: int | None = Field(None, description="random seed, for reproducible chaos")


class SandboxSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SANDBOX_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8089
    public_url: str | None = Field(None, description="base URL in media download links; default: the request's")
    webhook_url: str | None = Field(None, description="where notifications go, e.g. ingest's /webhooks/whatsapp")
    app_secret: SecretStr = SecretStr("dev-only-app-secret")
    access_tokens: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["dev-only-sandbox-token"],
        description="comma-separated tokens accepted for numbers registered without their own token")
    seed_demo: bool = Field(True, description="register the demo number and the default templates at start")

    throughput_per_second: int = Field(80, ge=1, description="default per-number limit (sliding 1 s window)")
    pair_burst: int = Field(45, ge=1, description="messages to one recipient allowed back to back")
    pair_interval_seconds: float = Field(6.0, ge=0.0, description="steady pair rate: one message per interval")
    duplicate_window_seconds: float = Field(
        10.0, ge=0.0, description="identical payloads to one recipient within it count as duplicates")

    status_sent_delay_ms: int = 50
    status_delivered_delay_ms: int = 200
    status_read_delay_ms: int = Field(600, description="negative: customers never read")

    webhook_batch_window_ms: int = Field(
        200, ge=0, description="how long a due status waits for others to share its POST (Meta batches statuses)")
    webhook_max_batch: int = Field(1000, ge=1, le=1000)
    webhook_timeout_seconds: float = 5.0
    webhook_concurrency: int = Field(8, ge=1)
    webhook_retry_initial_seconds: float = Field(0.25, gt=0)
    webhook_retry_max_seconds: float = Field(30.0, gt=0, description="cap of the exponential retry interval")
    webhook_retry_horizon_seconds: float = Field(
        3600.0, gt=0, description="after this a batch is counted undelivered (Meta: 7 days)")

    chaos: ChaosSettings = Field(default_factory=ChaosSettings)
    state_dir: Path | None = Field(None, description="keep uploaded media on disk here instead of in memory")
    log_level: str = "INFO"

    @field_validator("access_tokens", mode="before")
    @classmethod
    def _split_tokens(cls, value: object) -> object:
        if isinstance(value, str):
            return [token.strip() for token in value.split(",") if token.strip()]
        return value
