"""The shared inbox at scale: list and timeline latency, and the rate of projecting message.received.

    .tools/bin/uv run python bench/conversation_inbox.py [--messages 1000000] [--events 20000] [--samples 400]

1. Loads ``--messages`` messages over messages/10 conversations in 10 tenants straight into the projection
   tables (INSERT ... SELECT generate_series; bodies really sealed per message, loaded with COPY), then measures
   p50/p99 of the first page of a filtered conversation list (status, assignee, team, label, channel or
   unfiltered, 20 rows) and of a conversation's latest 50 messages, through the service's HTTP app (routing,
   validation, sealed previews/bodies opened, JSON), beside a plain indexed SELECT of the same rows.
2. Produces ``--events`` real ``message.received`` events to Kafka (embedded Tansu) and lets the real service
   consume them (its inbox, projections, event store and relay), beside the same kit consumer with a handler
   that does nothing (inbox row + commit only), and prints both rates.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import random
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from prometheus_client import REGISTRY
from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.scratch import scratch_platform  # noqa: E402
from parley.contracts import Envelope  # noqa: E402
from parley.contracts.binding import to_record  # noqa: E402
from parley.contracts.events.messages import MessageReceived  # noqa: E402
from parley.conversation.main import build  # noqa: E402
from parley.conversation.sealing import message_context  # noqa: E402
from parley.conversation.settings import ConversationSettings  # noqa: E402
from parley.devstack.catalog import SERVICES  # noqa: E402
from parley.devstack.stack import Platform  # noqa: E402
from parley.kit import crypto  # noqa: E402
from parley.kit.auth import Principal, current_principal  # noqa: E402
from parley.kit.consumer import ConsumerRunner, Subscription  # noqa: E402
from parley.kit.consumer_loop import ConsumerLoop  # noqa: E402
from parley.kit.kafka import create_producer  # noqa: E402
from parley.kit.service import Service  # noqa: E402

TENANTS = [uuid.UUID(int=(0x0196 << 112) + i) for i in range(1, 11)]
AGENTS = 20
TEAMS = 3
STATUSES = ["open", "pending", "resolved", "snoozed"]
LABELS = ["vip", "billing", "lead", "support", "refund"]
NUMBER = "106540352242922"


def agent_id(tenant: int, n: int) -> uuid.UUID:
    return uuid.UUID(int=(0xA9E7 << 112) + tenant * 1000 + n)


async def load(service: Service, messages: int) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """Contacts and conversations by generate_series, messages by COPY; returns (tenant, conversation) pairs."""
    conversations = max(messages // 10, 10)
    tenants = "ARRAY[" + ",".join(f"'{t}'::uuid" for t in TENANTS) + "]"
    async with service.db.unit_of_work(system=True) as session:
        await session.execute(text("TRUNCATE conversation.messages, conversation.conversations, "
                                   "conversation.contacts"))
        await session.execute(text(f"""
            INSERT INTO conversation.contacts (id, tenant_id, wa_id, phone_e164, profile_name, created_at)
            SELECT md5('c' || i)::uuid, ({tenants})[1 + i % 10], (5511900000000 + i)::text,
                   '+' || (5511900000000 + i)::text, 'Customer ' || i, now() - interval '100 days'
            FROM generate_series(0, {conversations - 1}) i"""))
        agents = "ARRAY[" + ",".join(f"'{agent_id(0, n)}'::uuid" for n in range(AGENTS)) + "]"
        await session.execute(text(f"""
            INSERT INTO conversation.conversations (id, tenant_id, contact_id, wa_id, phone_number_id, status,
                priority, labels, assignee_id, team_id, opened_at, last_message_at, window_expires_at)
            SELECT md5('v' || i)::uuid, ({tenants})[1 + i % 10], md5('c' || i)::uuid, (5511900000000 + i)::text,
                   '{NUMBER}', (ARRAY['open','pending','resolved','snoozed'])[1 + (i / 10) % 4], 'none',
                   CASE WHEN i % 7 = 0 THEN ARRAY['vip'] WHEN i % 5 = 0 THEN ARRAY['billing','lead']
                        ELSE ARRAY[]::varchar[] END,
                   CASE WHEN i % 3 = 0 THEN NULL ELSE ({agents})[1 + (i / 10) % {AGENTS}] END,
                   CASE WHEN i % 2 = 0 THEN NULL ELSE md5('team' || (i % 10) || '-' || (i / 10) % {TEAMS})::uuid END,
                   now() - interval '100 days', now() - (i * interval '17 seconds'), now()
            FROM generate_series(0, {conversations - 1}) i"""))
    await _copy_messages(service, messages, conversations)
    async with service.db.unit_of_work(system=True) as session:
        await session.execute(text("""
            UPDATE conversation.conversations c SET last_message_id = m.id, last_message_type = m.type,
                   last_message_sealed = m.body_sealed, last_message_at = m.sent_at
            FROM (SELECT DISTINCT ON (conversation_id) conversation_id, id, type, body_sealed, sent_at
                  FROM conversation.messages ORDER BY conversation_id, sent_at DESC, id DESC) m
            WHERE m.conversation_id = c.id"""))
        rows = (await session.execute(text("SELECT tenant_id, id FROM conversation.conversations"))).all()
    async with service.db.engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text("VACUUM ANALYZE conversation.conversations, conversation.messages, "
                                "conversation.contacts"))
    return [(r[0], r[1]) for r in rows]


async def _copy_messages(service: Service, messages: int, conversations: int) -> None:
    """Real sealed bodies (each bound to its message id) under each tenant's real data key, then COPY."""
    cipher = service.definition.extra_state["sealer"].cipher  # type: ignore[attr-defined]
    keys = {}
    async with service.db.unit_of_work(system=True) as session:
        for tenant in TENANTS:
            await cipher.encrypt(session, tenant, b"warm", b"")  # creates the tenant's data key
            keys[tenant] = await cipher._data_key(session, tenant, create=False)  # noqa: SLF001 - bench setup only
    start, rows, chunk = datetime.now(UTC) - timedelta(days=30), [], 100_000
    async with service.db.engine.connect() as conn:
        # COPY refuses tables under row-level security: COPY into a scratch table, then INSERT ... SELECT.
        await conn.execute(text("SELECT set_config('parley.rls_bypass', 'on', true)"))
        await conn.execute(text("CREATE UNLOGGED TABLE conversation.bench_messages (LIKE conversation.messages)"))
        raw = (await conn.get_raw_connection()).driver_connection
        for i in range(messages):
            c = i % conversations
            tenant, message_id = TENANTS[c % 10], uuid.uuid4()
            body = b'{"text":"message %d of the bench","content":{"text":{"body":"message %d"}}}' % (i, i)
            sealed = crypto._seal(keys[tenant], body, message_context(message_id))  # noqa: SLF001 - bench setup
            conversation = uuid.UUID(hex=hashlib.md5(f"v{c}".encode()).hexdigest())
            rows.append((message_id, tenant, conversation, f"wamid.bench{i}", "inbound" if i % 3 else "outbound",
                         "text", None if i % 3 else "read", sealed, start + timedelta(seconds=i * 2)))
            if len(rows) >= chunk or i == messages - 1:
                columns = ["id", "tenant_id", "conversation_id", "wamid", "direction", "type", "status",
                           "body_sealed", "sent_at"]
                await raw.copy_records_to_table("bench_messages", schema_name="conversation", records=rows,
                                                columns=columns)
                await raw.execute(f"INSERT INTO conversation.messages ({', '.join(columns)}) "
                                  f"SELECT {', '.join(columns)} FROM conversation.bench_messages; "
                                  "TRUNCATE conversation.bench_messages")
                rows = []
                print(f"  loaded {i + 1:,} messages", flush=True)
        await conn.execute(text("DROP TABLE conversation.bench_messages"))
        await conn.commit()


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


async def timed(samples: int, call: Callable[[int], Awaitable[object]]) -> list[float]:
    for i in range(20):  # warm-up
        await call(i)
    out = []
    for i in range(samples):
        started = time.perf_counter()
        await call(i)
        out.append((time.perf_counter() - started) * 1000)
    return out


def list_params(i: int) -> tuple[dict[str, str], str, dict[str, object]]:
    """(query parameters, equivalent SQL filter, bind values) for the i-th sample's filter."""
    kind = i % 6
    if kind == 0:
        return {"status": "open"}, "status = :v", {"v": "open"}
    if kind == 1:
        agent = str(agent_id(0, i % AGENTS))
        return {"assignee": agent}, "assignee_id = :v", {"v": agent}
    if kind == 2:
        return {"label": "vip"}, "labels @> ARRAY[CAST(:v AS varchar)]", {"v": "vip"}
    if kind == 3:
        return {"channel": NUMBER}, "phone_number_id = :v", {"v": NUMBER}
    if kind == 4:
        return {"status": "pending", "assignee": str(agent_id(0, i % AGENTS))}, \
            "status = 'pending' AND assignee_id = :v", {"v": str(agent_id(0, i % AGENTS))}
    return {}, "true", {}


async def measure_queries(service: Service, pairs: list[tuple[uuid.UUID, uuid.UUID]], samples: int) -> None:
    app = service.create_app()
    principal = {"p": Principal(TENANTS[0], uuid.uuid4(), "owner")}
    app.dependency_overrides[current_principal] = lambda: principal["p"]
    rng = random.Random(7)
    by_tenant: dict[uuid.UUID, list[uuid.UUID]] = {}
    for tenant, conversation in pairs:
        by_tenant.setdefault(tenant, []).append(conversation)
    picks = [(TENANTS[i % 10], rng.choice(by_tenant[TENANTS[i % 10]])) for i in range(samples + 20)]

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as client:
        async def api_list(i: int) -> None:
            principal["p"] = Principal(picks[i][0], uuid.uuid4(), "owner")
            response = await client.get("/v1/conversations", params=list_params(i)[0])
            assert response.status_code == 200, response.text

        async def api_messages(i: int) -> None:
            principal["p"] = Principal(picks[i][0], uuid.uuid4(), "owner")
            response = await client.get(f"/v1/conversations/{picks[i][1]}/messages")
            assert response.status_code == 200 and response.json()["data"], response.text[:300]

        async def sql_list(i: int) -> None:
            _, where, binds = list_params(i)
            async with service.db.unit_of_work(tenant_id=picks[i][0]) as session:
                await session.execute(text(
                    f"SELECT * FROM conversation.conversations WHERE tenant_id = :t AND {where} "
                    "ORDER BY last_message_at DESC, id DESC LIMIT 21"), {"t": picks[i][0], **binds})

        async def sql_messages(i: int) -> None:
            async with service.db.unit_of_work(tenant_id=picks[i][0]) as session:
                rows = (await session.execute(text(
                    "SELECT * FROM conversation.messages WHERE conversation_id = :c "
                    "ORDER BY sent_at DESC, id DESC LIMIT 51"), {"c": picks[i][1]})).all()
                assert rows

        for name, api, sql in (("conversation list (20)", api_list, sql_list),
                               ("latest 50 messages", api_messages, sql_messages)):
            api_p50, api_p99 = percentiles(await timed(samples, api))
            sql_p50, sql_p99 = percentiles(await timed(samples, sql))
            print(f"{name:>24}: API p50 {api_p50:.2f} ms p99 {api_p99:.2f} ms (target p99 <= 10 ms) | plain "
                  f"indexed SELECT p50 {sql_p50:.2f} ms p99 {sql_p99:.2f} ms | ratio p99 {api_p99 / sql_p99:.1f}x",
                  flush=True)


def events(count: int) -> list[Envelope]:
    """``count`` text messages from count/10 customers spread over the 10 tenants, in order per customer."""
    customers, start = max(count // 10, 1), datetime.now(UTC) - timedelta(hours=1)
    return [Envelope.wrap(MessageReceived.model_validate({
        "wamid": f"wamid.rate{uuid.uuid4().hex}", "phone_number_id": NUMBER, "wa_id": f"4477{i % customers:09d}",
        "from": f"4477{i % customers:09d}", "profile_name": "Rate Customer", "timestamp": start + timedelta(
            milliseconds=i), "type": "text", "text": {"body": f"projection bench {i} " + "x" * 200}}),
        source="/parley/ingest", tenant_id=TENANTS[i % 10]) for i in range(count)]


async def consumed(service: Service, consumer: str) -> int:
    async with service.db.unit_of_work(system=True) as session:
        return int((await session.execute(text("SELECT count(*) FROM conversation.inbox WHERE consumer = :c"),
                                           {"c": consumer})).scalar_one())


async def rate_of(service: Service, consumer: str, total: int) -> tuple[float, float]:
    """Events per second from the first consumed event to the last (a group join is not counted), and this
    process's CPU milliseconds per event meanwhile (every consumer of the service runs in it)."""
    while (first := await consumed(service, consumer)) == 0:  # noqa: ASYNC110 - polling another process's work
        await asyncio.sleep(0.05)
    started, cpu = time.perf_counter(), time.process_time()
    done = first
    while done < total:
        await asyncio.sleep(0.2)
        done = await consumed(service, consumer)
    return (done - first) / (time.perf_counter() - started), (time.process_time() - cpu) * 1000 / max(done - first, 1)


def batch_size(consumer: str) -> float:
    """Average records per partition batch the consumer handled."""
    total = REGISTRY.get_sample_value("parley_consumer_batch_size_sum", {"consumer": consumer}) or 0
    return total / (REGISTRY.get_sample_value("parley_consumer_batch_size_count", {"consumer": consumer}) or 1)


async def measure_projection(service: Service, count: int) -> None:
    producer = create_producer(service.settings, client_id="bench")
    await producer.start()
    try:
        for envelope in events(count):
            key, value, headers = to_record(envelope)
            await producer.send("message.received", value=value, key=key, headers=headers)
        await producer.flush()
    finally:
        await producer.stop()
    print(f"produced {count:,} message.received events", flush=True)

    await service.start()  # the real service: its consumers, projections, event store and outbox relay
    try:
        rate, cpu = await rate_of(service, "conversation.inbound", count)
    finally:
        await service.stop()
    async def nothing(_session: object, _batch: list[Envelope]) -> None:
        return None

    producer = create_producer(service.settings, client_id="bench-baseline")
    await producer.start()
    fresh = build(service.settings)
    runner = ConsumerRunner(fresh.db, fresh.store.tables, producer,
                            Subscription("bench.baseline", ("message.received",), batch_handler=nothing))
    loop = ConsumerLoop(runner, service.settings.kafka_bootstrap_servers, client_id="bench-baseline",
                        max_records=service.settings.consumer_batch_size)
    await loop.start()
    try:
        baseline, baseline_cpu = await rate_of(fresh, "bench.baseline", count)
    finally:
        await loop.stop()
        await producer.stop()
        await fresh.db.dispose()
    print(f"message.received projected: {rate:,.0f} events/s (target >= 2,000/s), {cpu:.2f} CPU ms/event in the "
          f"service process, {batch_size('conversation.inbound'):.0f} records per batch | kit consumer with an empty "
          f"batch handler (inbox + commit only): {baseline:,.0f} events/s, {baseline_cpu:.2f} CPU ms/event, "
          f"{batch_size('bench.baseline'):.0f} records per batch | ratio {rate / baseline:.2f}x", flush=True)


async def run(platform: Platform, args: argparse.Namespace) -> None:
    spec = next(s for s in SERVICES if s.name == "conversation")
    settings = ConversationSettings(database_url=platform.database_url(spec),
                                    kafka_bootstrap_servers=platform.infra.kafka_bootstrap)
    service = build(settings)
    await service.migrate()
    try:
        started = time.perf_counter()
        pairs = await load(service, args.messages)
        print(f"loaded {args.messages:,} messages over {len(pairs):,} conversations in 10 tenants "
              f"in {time.perf_counter() - started:.0f} s", flush=True)
        await measure_queries(service, pairs, args.samples)
    finally:
        await service.db.dispose()
    await measure_projection(build(settings), args.events)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--samples", type=int, default=400)
    args = parser.parse_args()
    platform = scratch_platform()
    try:
        platform.infra.start()
        platform.prepare()
        asyncio.run(run(platform, args))
    finally:
        platform.stop()


if __name__ == "__main__":
    main()
