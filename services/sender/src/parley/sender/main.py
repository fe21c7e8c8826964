"""Wiring of the sender service."""

from pathlib import Path

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from parley.contracts import Envelope
from parley.kit.crypto import TenantCipher, load_keyring
from parley.kit.eventstore import EventStore
from parley.kit.service import Service, ServiceDefinition
from parley.sender import endpoints, pool_endpoints, pools, service, subscribers
from parley.sender.admission import Admission
from parley.sender.graph import GraphClient
from parley.sender.health import HealthPolicy
from parley.sender.limits import PairRate, SendLimits
from parley.sender.models import Channel, Pool, PoolMember, data_keys, kit_tables, metadata
from parley.sender.settings import SenderSettings
from parley.sender.worker import Sender, Wakeup


async def project(session: AsyncSession, envelope: Envelope) -> None:
    """Channel and pool events into their projections."""
    if envelope.type in pools.EVENT_TYPES:
        await pools.project(session, envelope)
    else:
        await service.project(session, envelope)


def build(settings: SenderSettings | None = None) -> Service:
    settings = settings or SenderSettings()
    store = EventStore(kit_tables, source="/parley/sender", projector=project)
    policy = HealthPolicy(pause_after=settings.pause_after_failures, slow_factor=settings.slow_factor,
                          slow_seconds=settings.slow_seconds)
    # Built now so a missing or malformed master key fails at start-up, not at the first send.
    cipher = TenantCipher(load_keyring(settings), data_keys)
    # A connection for every send a round can have in flight: waiting for the pool would eat the call's timeout
    # and leave a send that never left in doubt.
    graph = GraphClient(settings.graph_api_url, timeout_seconds=settings.graph_timeout_seconds,
                        max_connections=max(100, settings.workers * settings.claim_batch))
    wakeup = Wakeup()
    definition = ServiceDefinition(
        name="sender", settings=settings, metadata=metadata, store=store,
        migrations_dir=Path(__file__).parent / "migrations",
        routers=[endpoints.router, pool_endpoints.router],
        subscriptions=subscribers.subscriptions(store, cipher, policy, on_queued=wakeup.set),
        projection_tables=[Channel.__table__, Pool.__table__, PoolMember.__table__],
        extra_state={"tenant_cipher": cipher, "graph": graph},
    )
    built = Service(definition)
    pair = PairRate(settings.pair_interval_seconds, settings.pair_burst) if settings.pair_interval_seconds else None
    limits = SendLimits(Redis.from_url(settings.redis_url), pair=pair,
                        lookahead_seconds=settings.pacing_lookahead_seconds)
    admission = Admission(limits, settings.throughput_per_second, policy, settings.window_settle_seconds)
    sender = Sender(built.db, store, cipher, graph, settings, admission, wakeup)

    async def send_loops(_: Service) -> None:
        await sender.run_send_loops()

    async def in_doubt_sweeper(_: Service) -> None:
        await sender.run_sweeper()

    async def close_clients(_: Service) -> None:
        await graph.close()
        await limits.close()

    async def channel_gauges(_: Service) -> None:
        await sender.run_channel_gauges()

    definition.background = [send_loops, in_doubt_sweeper, channel_gauges]
    definition.on_shutdown = [close_clients]
    definition.extra_state["sender"] = sender
    return built
