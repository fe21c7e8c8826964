"""Async SQLAlchemy bound to one service's schema, through that service's own role."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from uuid import UUID

from sqlalchemy import MetaData, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase

from parley.kit import rls

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def service_metadata(schema: str) -> MetaData:
    return MetaData(schema=schema, naming_convention=NAMING_CONVENTION)


def declarative_base(schema: str) -> type[DeclarativeBase]:
    """A declarative base whose tables all live in ``schema``."""

    class Base(DeclarativeBase):
        metadata = service_metadata(schema)

    return Base


def create_engine(url: str, schema: str, *, pool_size: int = 10, application_name: str = "parley",
                  server_settings: dict[str, str] | None = None) -> AsyncEngine:
    """An engine whose connections see only ``schema`` on their search path.

    Session settings go in ``server_settings`` (sent once per connection, not once per transaction).
    """
    settings = {"search_path": str(schema), "application_name": application_name, **(server_settings or {})}
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        connect_args={"server_settings": settings},
    )


class Database:
    """Engine + session factory of one service."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.sessions = async_sessionmaker(engine, expire_on_commit=False, autoflush=False)

    @asynccontextmanager
    async def unit_of_work(self, *, tenant_id: UUID | None = None, system: bool = False
                           ) -> AsyncIterator[AsyncSession]:
        """One transaction: committed when the block succeeds, rolled back when it raises.

        ``tenant_id`` scopes it to one tenant's rows, ``system=True`` to every row (see ``parley.kit.rls``);
        with neither, tables under row-level security show nothing.
        """
        if tenant_id is not None and system:
            raise ValueError("a transaction is scoped to one tenant or to the system, not both")
        async with self.sessions() as session, session.begin():
            if tenant_id is not None or system:
                await rls.scope(session, tenant_id)
            yield session

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("select 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()
