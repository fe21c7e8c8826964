"""Settings base every service extends with its own env prefix (``INGEST_``, ``GATEWAY_``, ...)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

Environment = Literal["development", "test", "production"]

#: Values that ship in this repository for development; refused anywhere else.
DEV_SECRET_MARKER = "dev-only"


def shared(name: str, default: object = None, **kwargs: object) -> object:
    """A field read from ``<PREFIX><NAME>`` or, failing that, the unprefixed shared ``<NAME>``."""
    return Field(default, validation_alias=AliasChoices(name.lower(), name.upper()), **kwargs)


class ServiceSettings(BaseSettings):
    """What every service needs: where its infrastructure is and how it behaves.

    Subclasses set ``model_config = SettingsConfigDict(env_prefix="INGEST_")``; infrastructure
    URLs also fall back to the unprefixed names (``KAFKA_BOOTSTRAP_SERVERS``...) shared by all.
    """

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    service_name: str = "parley"
    env: Environment = Field(
        "development", validation_alias=AliasChoices("PARLEY_ENV", "parley_env"),
        description="development allows the repository's dev secrets; production refuses them",
    )
    host: str = "127.0.0.1"
    port: int = 8000
    http_keep_alive_seconds: int = shared(
        "HTTP_KEEP_ALIVE_SECONDS", 65, ge=1,
        description="How long an idle HTTP connection to the service stays open. Longer than its clients keep "
                    "idle connections (the gateway: 4 s), or a request can go out on a connection being closed")
    ws_per_message_deflate: bool = Field(
        False, description="Offer permessage-deflate to WebSocket clients. Off: realtime frames are small JSON, "
                           "and compressing each one per socket cost the gateway a fifth of its CPU at 500 sockets")
    database_url: SecretStr = SecretStr("postgresql+asyncpg://localhost/parley")
    database_schema: str = "public"
    database_pool_size: int = 10
    kafka_bootstrap_servers: str = shared("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:19092")
    kafka_idempotent_producer: bool = shared(
        "KAFKA_IDEMPOTENT_PRODUCER", False,
        description="On for Apache Kafka; off for Tansu, which rejects InitProducerId",
    )
    kafka_topic_prefix: str = shared(
        "KAFKA_TOPIC_PREFIX", "", description="Prepended to every topic (isolated test runs, shared clusters)"
    )
    redis_url: str = shared("REDIS_URL", "redis://127.0.0.1:16379/0")
    jwks_url: str | None = None
    revocation_cache_seconds: float = shared(
        "REVOCATION_CACHE_SECONDS", 1.0,
        description="How long a service trusts its last look at revoked sessions and suspended tenants in Valkey",
    )
    migrate_on_start: bool = Field(
        True, validation_alias=AliasChoices("PARLEY_MIGRATE_ON_START", "migrate_on_start"),
        description="Apply migrations when serving; production runs them as a Job before the rollout instead",
    )
    consumers_enabled: bool = Field(True, description="Run this service's Kafka consumers in this process")
    relay_enabled: bool = Field(True, description="Run the outbox relay in this process")
    relay_batch_size: int = 200
    relay_idle_seconds: float = 0.05
    consumer_max_attempts: int = 6
    consumer_batch_size: int = Field(500, description="Most records one consumer fetches at a time")
    consumer_concurrency: int = Field(1, description="Partitions one consumer processes at once, each in its own "
                                                     "transaction (per-key order holds: a key has one partition)")
    consumer_fetch_wait_ms: int = Field(
        100, ge=0, description="Longest a consumer's fetch waits at the broker for new records. On a broker that "
                               "answers only when it runs out (Tansu) it is the hop's latency; an idle consumer sends "
                               "one fetch per wait, so shorter costs CPU at idle (bench/consumer_idle_cpu.py)")
    consumer_realtime_fetch_wait_ms: int = Field(
        20, ge=0, description="The fetch wait of consumers of consumer_realtime_topics (a customer's message on its "
                              "way to an agent's screen)")
    consumer_realtime_topics: Annotated[list[str], NoDecode] = Field(
        default=["webhook.received", "message.received", "conversation.changed"],
        description="Topics whose consumers fetch with consumer_realtime_fetch_wait_ms, comma-separated")
    kafka_linger_ms: int = shared(
        "KAFKA_LINGER_MS", 0, ge=0,
        description="Producer linger. 0 costs no batching: the relay appends a whole batch before the producer's "
                    "sender runs, and records wait anyway while a request to their partition is in flight")
    log_level: str = shared("LOG_LEVEL", "INFO")
    otel_exporter_otlp_endpoint: str | None = shared("OTEL_EXPORTER_OTLP_ENDPOINT", None)

    @field_validator("consumer_realtime_topics", mode="before")
    @classmethod
    def _parse_topics(cls, value: object) -> object:
        return [t.strip() for t in value.split(",") if t.strip()] if isinstance(value, str) else value

    def fetch_wait_ms(self, topics: tuple[str, ...]) -> int:
        """The fetch wait of a consumer of ``topics`` (unprefixed): short on the realtime path, longer elsewhere."""
        if set(topics) & set(self.consumer_realtime_topics):
            return self.consumer_realtime_fetch_wait_ms
        return self.consumer_fetch_wait_ms

    @model_validator(mode="after")
    def _refuse_dev_secrets_outside_development(self) -> ServiceSettings:
        if self.env == "development":
            return self
        leaked = [
            name for name, value in self
            if isinstance(value, SecretStr) and DEV_SECRET_MARKER in value.get_secret_value()
        ] + [
            name for name, value in self
            if isinstance(value, list | tuple)
            and any(isinstance(v, SecretStr) and DEV_SECRET_MARKER in v.get_secret_value() for v in value)
        ]
        if leaked:
            raise ValueError(
                f"development secrets are not allowed when PARLEY_ENV={self.env}: set real values for "
                + ", ".join(sorted(leaked))
            )
        return self
