"""Create every contract topic and its DLQ. ``python -m parley.kit.topics`` (idempotent)."""

from __future__ import annotations

import asyncio
import os

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from parley.contracts import TOPICS


def desired_topics(replication: int, max_partitions: int | None = None, prefix: str = "") -> list[NewTopic]:
    topics = []
    for spec in TOPICS.values():
        partitions = min(spec.partitions, max_partitions) if max_partitions else spec.partitions
        config = {"retention.ms": str(spec.retention_days * 86_400_000)}
        if replication >= 3:
            config["min.insync.replicas"] = "2"
        topics.append(NewTopic(prefix + spec.name, partitions, replication, topic_configs=config))
        dlq_config = {**config, "retention.ms": str(30 * 86_400_000)}
        topics.append(NewTopic(prefix + spec.dlq, partitions, replication, topic_configs=dlq_config))
    return topics


async def ensure_topics(bootstrap: str, *, replication: int = 1, max_partitions: int | None = None,
                        prefix: str = "") -> list[str]:
    """Create the topics that do not exist yet; returns the names created."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="parley-topics")
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in desired_topics(replication, max_partitions, prefix) if t.name not in existing]
        if missing:
            await admin.create_topics(missing)
        return [t.name for t in missing]
    finally:
        await admin.close()


def main() -> None:
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:19092")
    replication = int(os.environ.get("KAFKA_REPLICATION_FACTOR", "1"))
    prefix = os.environ.get("KAFKA_TOPIC_PREFIX", "")
    created = asyncio.run(ensure_topics(bootstrap, replication=replication, prefix=prefix))
    print(f"created {len(created)} topics: {', '.join(created) or '-'}")


if __name__ == "__main__":
    main()
