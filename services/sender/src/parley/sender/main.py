"""Wiring of the sender service."""

from pathlib import Path

from redis.asyncio import Redis

from parley.kit.crypto import TenantCipher, load_keyring
from parley.kit.eventstore import EventStore
from parley.kit.service import Service, ServiceDefinition
from parley.sender import endpoints, service, subscribers
from parley.sender.graph import GraphClient
from parley.sender.limits import NumberPacer
from parley.sender.models import Channel, data_keys, kit_tables, metadata
from parley.sender.settings import SenderSettings
from parley.sender.worker import Sender


def build(settings: SenderSettings | None = None) -> Service:
    settings = settings or SenderSettings()
    store = EventStore(kit_tables, source="/parley/sender", projector=service.project)
    # Built now so a missing or malformed master key fails at start-up, not at the first send.
    cipher = TenantCipher(load_keyring(settings), data_keys)
    graph = GraphClient(settings.graph_api_url, timeout_seconds=settings.graph_timeout_seconds)
    definition = ServiceDefinition(
        name="sender", settings=settings, metadata=metadata, store=store,
        migrations_dir=Path(__file__).parent / "migrations",
        routers=[endpoints.router],
        subscriptions=subscribers.subscriptions(store),
        projection_tables=[Channel.__table__],
        extra_state={"tenant_cipher": cipher, "graph": graph},
    )
    built = Service(definition)
    pacer = NumberPacer(Redis.from_url(settings.redis_url), per_second=settings.throughput_per_second)
    sender = Sender(built.db, store, cipher, graph, settings, pacer)

    async def send_loops(_: Service) -> None:
        await sender.run_send_loops()

    async def in_doubt_sweeper(_: Service) -> None:
        await sender.run_sweeper()

    async def close_clients(_: Service) -> None:
        await graph.close()
        await pacer.close()

    async def channel_gauges(_: Service) -> None:
        await sender.run_channel_gauges()

    definition.background = [send_loops, in_doubt_sweeper, channel_gauges]
    definition.on_shutdown = [close_clients]
    definition.extra_state["sender"] = sender
    return built
