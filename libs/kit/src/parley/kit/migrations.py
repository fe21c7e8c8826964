"""One Alembic tree per service, run programmatically (at start-up, by ``migrate``, and by tests)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, pool, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from parley.kit.eventstore import define_kit_tables


def alembic_config(migrations_dir: Path, url: str, schema: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir))
    config.attributes["url"] = url
    config.attributes["schema"] = schema
    return config


def upgrade(migrations_dir: Path, url: str, schema: str, revision: str = "head") -> None:
    """Apply the service's migrations. Blocking: call it from a thread inside an event loop."""
    command.upgrade(alembic_config(migrations_dir, url, schema), revision)


async def upgrade_async(migrations_dir: Path, url: str, schema: str) -> None:
    await asyncio.to_thread(upgrade, migrations_dir, url, schema)


def run_env(target_metadata: MetaData) -> None:
    """Body of every service's ``env.py``: online migrations over the service's own async engine."""
    url = context.config.attributes["url"]
    schema = str(context.config.attributes["schema"])

    def do_run(connection: Connection) -> None:
        # Replicas (and one-shot commands) starting together take turns instead of racing.
        lock = text("select pg_advisory_lock(hashtext('parley.migrations.' || :schema))")
        connection.execute(lock, {"schema": schema})
        connection.commit()
        try:
            context.configure(connection=connection, target_metadata=target_metadata, version_table_schema=schema,
                              include_schemas=False, transaction_per_migration=True)
            with context.begin_transaction():
                context.run_migrations()
        finally:
            connection.execute(text("select pg_advisory_unlock(hashtext('parley.migrations.' || :schema))"),
                               {"schema": schema})

    async def run() -> None:
        engine = create_async_engine(url, poolclass=pool.NullPool,
                                     connect_args={"server_settings": {"search_path": schema}})
        async with engine.connect() as connection:
            await connection.run_sync(do_run)
            await connection.commit()
        await engine.dispose()

    asyncio.run(run())


def create_kit_tables(schema: str) -> None:
    """For a service's first migration: the event store (also the outbox) and the inbox."""
    from alembic import op

    kit = define_kit_tables(MetaData(schema=schema))
    bind = op.get_bind()
    kit.event_store.create(bind)
    kit.inbox.create(bind)


def drop_kit_tables(schema: str) -> None:
    from alembic import op

    op.drop_table("inbox", schema=schema)
    op.drop_table("event_store", schema=schema)
