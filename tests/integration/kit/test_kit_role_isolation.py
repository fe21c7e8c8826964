"""Each service's database role reaches its own schema and nothing else."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import ProgrammingError

from parley.conversation.main import build as build_conversation
from parley.conversation.settings import ConversationSettings
from parley.devstack.catalog import SERVICES
from parley.devstack.stack import Platform
from parley.ingest.main import build as build_ingest
from parley.ingest.settings import IngestSettings
from parley.kit.db import create_engine

pytestmark = pytest.mark.integration


def _spec(name: str):  # noqa: ANN202 - a catalog ServiceSpec
    return next(s for s in SERVICES if s.name == name)


async def test_service_role_cannot_touch_another_services_schema(platform: Platform) -> None:
    ingest, conversation = _spec("ingest"), _spec("conversation")
    for service in (build_ingest(IngestSettings(database_url=platform.database_url(ingest))),
                    build_conversation(ConversationSettings(database_url=platform.database_url(conversation)))):
        try:
            await service.migrate()
        finally:
            await service.db.dispose()

    engine = create_engine(platform.database_url(ingest), "ingest", pool_size=1)
    try:
        async with engine.connect() as conn:
            assert (await conn.execute(text("select current_user"))).scalar_one() == "parley_ingest"
            assert (await conn.execute(text("select count(*) from ingest.event_store"))).scalar_one() >= 0

        with pytest.raises(ProgrammingError, match="permission denied for schema conversation"):
            async with engine.connect() as conn:
                await conn.execute(text("select * from conversation.event_store"))

        with pytest.raises(ProgrammingError, match="permission denied for schema public"):
            async with engine.connect() as conn:
                await conn.execute(text("create table public.kit_isolation_probe (id int)"))
    finally:
        await engine.dispose()
