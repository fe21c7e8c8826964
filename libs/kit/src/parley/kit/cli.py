"""``python -m parley.<service> [serve|migrate|rebuild]`` for every service."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable

import uvicorn

from parley.kit.service import Service


def run(build: Callable[[], Service], argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("command", nargs="?", default="serve", choices=["serve", "migrate", "rebuild"])
    args = parser.parse_args(argv)
    service = build()
    if args.command == "migrate":
        asyncio.run(service.migrate())
        print(f"{service.name}: migrations applied")
    elif args.command == "rebuild":
        async def rebuild() -> int:
            try:
                return await service.rebuild()
            finally:
                await service.db.dispose()

        print(f"{service.name}: replayed {asyncio.run(rebuild())} events into empty projections")
    else:
        app = service.create_app()
        uvicorn.run(app, host=service.settings.host, port=service.settings.port, log_config=None,
                    timeout_graceful_shutdown=5, access_log=False)
