"""``python -m parley.<service> [serve|migrate|rebuild|rewrap-keys|<extra>]`` for every service."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable, Mapping

import uvicorn

from parley.kit.crypto import TenantCipher
from parley.kit.service import Service

Command = Callable[[Service, list[str]], Awaitable[str]]


async def _migrate(service: Service, _: list[str]) -> str:
    await service.migrate()
    return f"{service.name}: migrations applied"


async def _rebuild(service: Service, _: list[str]) -> str:
    count = await service.rebuild()
    return f"{service.name}: replayed {count} events into empty projections"


async def rewrap_keys(service: Service, _: list[str]) -> str:
    """Move every tenant data key of the service under the current master key (the first of PARLEY_MASTER_KEYS).

    Run after putting a new master key first; once every service reports it, the old key can go. Only the
    small key table is rewritten, never the data. A service keeps its cipher as ``extra_state["tenant_cipher"]``.
    """
    cipher = service.definition.extra_state.get("tenant_cipher")
    if not isinstance(cipher, TenantCipher):
        return f"{service.name}: holds no tenant data keys"
    async with service.db.unit_of_work(system=True) as session:  # every tenant's key
        moved = await cipher.rewrap_all(session)
    return f"{service.name}: {moved} data keys re-wrapped under master key {cipher.keyring.current.kid!r}"


def run(build: Callable[[], Service], argv: list[str] | None = None,
        commands: Mapping[str, Command] | None = None) -> None:
    """Serve by default; one-shot commands print what they did. ``commands`` adds service-specific ones."""
    one_shot: dict[str, Command] = {"migrate": _migrate, "rebuild": _rebuild, "rewrap-keys": rewrap_keys,
                                    **(commands or {})}
    parser = argparse.ArgumentParser()
    parser.add_argument("command", nargs="?", default="serve", choices=["serve", *one_shot])
    parser.add_argument("options", nargs=argparse.REMAINDER, help="passed to the command")
    args = parser.parse_args(argv)
    service = build()
    if args.command == "serve":
        uvicorn.run(service.asgi_app(), host=service.settings.host, port=service.settings.port, log_config=None,
                    timeout_graceful_shutdown=5, timeout_keep_alive=service.settings.http_keep_alive_seconds,
                    access_log=False,
                    ws_per_message_deflate=service.settings.ws_per_message_deflate)
        return

    async def once() -> str:
        try:
            return await one_shot[args.command](service, args.options)
        finally:
            await service.db.dispose()

    print(asyncio.run(once()))
