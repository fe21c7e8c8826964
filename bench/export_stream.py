"""Streamed message export over HTTP vs. PostgreSQL's own `COPY ... TO STDOUT (FORMAT csv)` of the same rows.

    .tools/bin/uv run python bench/export_stream.py [--rows 200000] [--format csv]

Starts embedded Postgres (via the devstack), migrates the conversation schema, stores ``--rows``
messages of one tenant (events + projections, as the service stores them), then reads them
(1) with COPY on a bare asyncpg connection — the fastest the database hands out CSV — and
(2) through `GET /v1/exports/messages` of the real conversation app served by uvicorn, read by
an httpx streaming client. Prints rows/s of both, the ratio, the largest chunk on the wire and
the process's peak RSS growth during the export (streaming keeps it flat whatever ``--rows``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import socket
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
import uvicorn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from parley.contracts import Envelope, new_event_id  # noqa: E402
from parley.conversation.main import build  # noqa: E402
from parley.conversation.models import Contact, Conversation, Message, kit_tables  # noqa: E402
from parley.conversation.settings import ConversationSettings  # noqa: E402
from parley.devstack.catalog import SERVICES  # noqa: E402
from parley.devstack.stack import Infra, InfraPorts, Platform  # noqa: E402
from parley.kit.auth import Principal, current_principal  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def seed(service, tenant: uuid.UUID, rows: int) -> uuid.UUID:
    """One contact, one conversation, ``rows`` inbound messages (~200-byte bodies), stored in batches."""
    start, wa_id = datetime(2026, 1, 1, tzinfo=UTC), "5511900000000"
    contact_id, conversation_id = new_event_id(), new_event_id()
    async with service.db.unit_of_work() as session:
        await session.execute(insert(Contact).values(id=contact_id, tenant_id=tenant, wa_id=wa_id,
                                                     profile_name="Bench", created_at=start))
        await session.execute(insert(Conversation).values(
            id=conversation_id, tenant_id=tenant, contact_id=contact_id, wa_id=wa_id, phone_number_id="1",
            status="open", opened_at=start, last_message_at=start))
    for offset in range(0, rows, 5000):
        events, messages = [], []
        for i in range(offset, min(offset + 5000, rows)):
            at, message_id = start + timedelta(seconds=i), new_event_id()
            body = f"message {i} " + "lorem ipsum dolor sit amet " * 7
            data = {"conversation_id": str(conversation_id), "message_id": str(message_id), "wa_id": wa_id,
                    "direction": "inbound", "wamid": f"wamid.{i}", "type": "text", "text": body,
                    "sent_at": at.isoformat(), "content": {"text": {"body": body}}}
            envelope = Envelope(type="conversation.message-added", source="/bench", tenantid=tenant, data=data)
            events.append({"event_id": envelope.id, "aggregate_type": "conversation",
                           "aggregate_id": str(conversation_id), "version": i + 1, "tenant_id": tenant,
                           "event_type": envelope.type, "topic": None, "partition_key": None,
                           "envelope": envelope.model_dump(mode="json")})
            messages.append({"id": message_id, "tenant_id": tenant, "conversation_id": conversation_id,
                             "wamid": f"wamid.{i}", "direction": "inbound", "type": "text", "text": body,
                             "content": {"text": {"body": body}}, "sent_at": at})
        async with service.db.unit_of_work() as session:
            await session.execute(insert(kit_tables.event_store), events)
            await session.execute(insert(Message), messages)
    return conversation_id


async def copy_baseline(url: str, tenant: uuid.UUID) -> tuple[float, int]:
    parts = make_url(url)
    connection = await asyncpg.connect(user=parts.username, password=parts.password, host=parts.host,
                                       port=parts.port, database=parts.database)
    received = 0

    async def sink(chunk: bytes) -> None:
        nonlocal received
        received += len(chunk)

    started = time.perf_counter()
    await connection.copy_from_query(
        "SELECT m.id, m.conversation_id, c.wa_id, m.direction, m.type, m.wamid, m.text, m.content, "
        "m.reply_to_wamid, m.sent_at FROM conversation.messages m JOIN conversation.conversations c "
        "ON c.id = m.conversation_id WHERE m.tenant_id = $1 ORDER BY m.sent_at, m.id", tenant,
        output=sink, format="csv", header=True)
    elapsed = time.perf_counter() - started
    await connection.close()
    return elapsed, received


async def http_export(port: int, fmt: str) -> tuple[float, int, int, int]:
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started, received, largest, lines = time.perf_counter(), 0, 0, 0
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=600) as client, \
            client.stream("GET", "/v1/exports/messages", params={"format": fmt}) as response:
        assert response.status_code == 200, response.status_code
        async for chunk in response.aiter_raw():
            received += len(chunk)
            largest = max(largest, len(chunk))
            lines += chunk.count(b"\n")
    elapsed = time.perf_counter() - started
    return elapsed, received, largest, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before


async def run(platform: Platform, rows: int, fmt: str) -> None:
    spec = next(s for s in SERVICES if s.name == "conversation")
    service = build(ConversationSettings(database_url=platform.database_url(spec), log_level="WARNING"))
    await service.migrate()
    tenant = uuid.uuid4()
    print(f"seeding {rows:,} messages ...", flush=True)
    await seed(service, tenant, rows)
    app = service.create_app()
    app.dependency_overrides[current_principal] = lambda: Principal(tenant, uuid.uuid4(), "owner")
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="warning", lifespan="off", access_log=False))
    serving = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn exposes a flag, not an event
        await asyncio.sleep(0.05)
    try:
        dsn = platform.database_url(spec)
        await copy_baseline(dsn, tenant)  # warm the cache for both
        copy_s, copy_bytes = await copy_baseline(dsn, tenant)
        export_s, export_bytes, largest, rss_growth = await http_export(port, fmt)
        print(f"COPY csv (baseline) : {rows / copy_s:>10,.0f} rows/s  {copy_bytes / copy_s / 2**20:6.1f} MiB/s "
              f"({copy_s:.2f} s, {copy_bytes / 2**20:.1f} MiB)")
        print(f"HTTP export ({fmt:>6}): {rows / export_s:>10,.0f} rows/s  {export_bytes / export_s / 2**20:6.1f} MiB/s "
              f"({export_s:.2f} s, {export_bytes / 2**20:.1f} MiB)")
        print(f"ratio export/COPY: {copy_s / export_s:.2f}x; largest chunk read {largest / 1024:.0f} KiB; "
              f"peak RSS growth during the export {rss_growth / 1024:.1f} MiB")
    finally:
        server.should_exit = True
        await serving
        await service.db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--format", choices=["csv", "json", "ndjson"], default="csv")
    args = parser.parse_args()
    state = Path(tempfile.mkdtemp(prefix="parley-bench-"))
    ports = {spec.name: free_port() for spec in SERVICES} | {"sandbox": free_port()}
    platform = Platform(state_dir=state, infra=Infra(state, InfraPorts(free_port(), free_port(), free_port())),
                        service_ports=ports, environ={**os.environ, "LOG_LEVEL": "WARNING"})
    try:
        platform.infra.start()
        platform.prepare()
        asyncio.run(run(platform, args.rows, args.format))
    finally:
        platform.stop()


if __name__ == "__main__":
    main()
