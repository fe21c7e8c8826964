"""The scratch service as a process of its own, for the tests that kill it and start it again.

Run as ``python -m tests.integration.kit.kit_worker`` from the repository root; configured by
environment (``PARLEY_FAULTS`` arms the kit's crash points):

- ``KIT_WORKER_ROLE=relay``: publish the outbox with ``KIT_BATCH_SIZE`` until it is empty, then exit 0.
- ``KIT_WORKER_ROLE=consumer``: run the kit ``Service`` with one subscription (``KIT_CONSUMER`` on
  ``KIT_TOPIC``, both under the topic prefix) until SIGTERM. Its handler appends each event id to
  ``KIT_DELIVERIES`` (outside the transaction) and writes one effect row (inside it).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from parley.contracts import Envelope
from parley.kit.consumer import Subscription
from parley.kit.kafka import create_producer
from parley.kit.relay import OutboxRelay
from parley.kit.service import Service, ServiceDefinition
from parley.kit.telemetry import setup_logging
from tests.integration.kit.kit_harness import SCRATCH_MIGRATIONS, Scratch, open_scratch, record_effect


def _scratch() -> Scratch:
    env = os.environ
    return open_scratch(env["KIT_SCHEMA"], env["KIT_DATABASE_URL"], env["KIT_TOPIC_PREFIX"],
                        env["KIT_KAFKA_BOOTSTRAP"])


async def drain_outbox(scratch: Scratch) -> None:
    settings = scratch.settings(relay_batch_size=int(os.environ.get("KIT_BATCH_SIZE", "200")))
    producer = create_producer(settings, client_id="kit-worker-relay")
    await producer.start()
    relay = OutboxRelay(scratch.db, scratch.tables.kit, producer, batch_size=settings.relay_batch_size,
                        topic_prefix=settings.kafka_topic_prefix)
    try:
        while await relay.publish_batch() or await relay.backlog():
            pass
    finally:
        await producer.stop()
        await scratch.db.dispose()


async def serve_consumer(scratch: Scratch) -> None:
    consumer, deliveries = os.environ["KIT_CONSUMER"], Path(os.environ["KIT_DELIVERIES"])

    async def handle(session: AsyncSession, envelope: Envelope) -> None:
        with deliveries.open("a") as log:  # noqa: ASYNC230 - one tiny append, before the commit on purpose
            log.write(f"{envelope.id}\n")
        await record_effect(session, scratch.tables, consumer, envelope)

    await scratch.db.dispose()  # the Service opens its own engine
    service = Service(ServiceDefinition(
        name="kit-worker", settings=scratch.settings(), metadata=scratch.tables.metadata, store=scratch.store,
        migrations_dir=SCRATCH_MIGRATIONS,
        subscriptions=[Subscription(consumer=consumer, topics=(os.environ["KIT_TOPIC"],), handler=handle)],
    ))
    stopping = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopping.set)
    await service.start()
    await stopping.wait()
    await service.stop()


def main() -> None:
    setup_logging("kit-worker", "INFO")
    # Group joins and assignments in the log: what a failing test's tail needs to show.
    logging.getLogger("aiokafka").setLevel(logging.INFO)
    scratch = _scratch()
    role = os.environ["KIT_WORKER_ROLE"]
    asyncio.run(drain_outbox(scratch) if role == "relay" else serve_consumer(scratch))


if __name__ == "__main__":
    main()
