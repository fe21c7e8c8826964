"""Producer settings stated explicitly, never aiokafka's defaults."""

from __future__ import annotations

from aiokafka import AIOKafkaProducer

from parley.kit.settings import ServiceSettings


def create_producer(settings: ServiceSettings, client_id: str) -> AIOKafkaProducer:
    """``acks=all``; idempotent where the broker supports it (Apache Kafka), off on Tansu.

    aiokafka keeps one in-flight request per broker connection, so retries never reorder a
    partition; consumers dedupe by event id, which makes a re-send after a crash harmless.
    """
    return AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        client_id=client_id,
        acks="all",
        enable_idempotence=settings.kafka_idempotent_producer,
        linger_ms=settings.kafka_linger_ms,
        request_timeout_ms=30_000,
        retry_backoff_ms=200,
        max_request_size=4 * 1024 * 1024,
        compression_type=None,
    )
