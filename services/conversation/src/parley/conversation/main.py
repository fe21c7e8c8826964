"""Wiring of the conversation service."""

from pathlib import Path

from parley.conversation import crm, directory_endpoints, endpoints, projections, service, subscribers
from parley.conversation.inbound import Inbound
from parley.conversation.models import PROJECTIONS, data_keys, kit_tables, metadata
from parley.conversation.sealing import Sealer
from parley.conversation.settings import ConversationSettings
from parley.kit.crypto import TenantCipher, load_keyring
from parley.kit.eventstore import EventStore
from parley.kit.loops import run_forever
from parley.kit.service import Service, ServiceDefinition


def build(settings: ConversationSettings | None = None) -> Service:
    settings = settings or ConversationSettings()
    store = EventStore(kit_tables, source="/parley/conversation", projector=crm.projector(projections.project))
    # Built now so a missing or malformed master key fails at start-up, not at the first message.
    sealer = Sealer(TenantCipher(load_keyring(settings), data_keys))
    inbound = Inbound(store, sealer)
    definition = ServiceDefinition(
        name="conversation", settings=settings, metadata=metadata, store=store,
        migrations_dir=Path(__file__).parent / "migrations",
        routers=[endpoints.router, directory_endpoints.contacts, directory_endpoints.agents,
                 directory_endpoints.teams, *crm.ROUTERS],
        subscriptions=[*subscribers.subscriptions(store, inbound), *crm.subscriptions(store)],
        projection_tables=[*PROJECTIONS, *crm.PROJECTION_TABLES],
        extra_state={"sealer": sealer, "tenant_cipher": sealer.cipher, "inbound": inbound},
    )
    built = Service(definition)

    async def snooze_alarm(_: Service) -> None:
        async def step() -> int:
            async with built.db.unit_of_work(system=True) as session:  # due snoozes of every tenant
                return await service.reopen_due_snoozes(session, store)

        await run_forever("snooze alarm", step, settings.snooze_check_seconds)

    definition.background = [snooze_alarm]
    return built
