"""Row-level security: a query that forgets its tenant filter still sees only the scoped tenant's rows.

The scratch service's role is provisioned like every service's (owner of its schema, NOBYPASSRLS), and
its ``tenant_notes`` table is put under the policy by ``enable_tenant_rls`` in a migration.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from uuid import UUID

import httpx
import jwt
import pytest
import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import APIRouter
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from parley.devstack.stack import Platform
from parley.kit.auth import AUDIENCE, ISSUER
from parley.kit.db import Database, create_engine
from parley.kit.rls import scope_to_system, scope_to_tenant
from parley.kit.service import Service, ServiceDefinition, TenantSession
from tests.integration.kit.kit_harness import SCRATCH_MIGRATIONS, Scratch

pytestmark = pytest.mark.integration

ACME, GLOBEX = uuid.UUID("0190a000-0000-7000-8000-00000000aaaa"), uuid.UUID("0190a000-0000-7000-8000-00000000bbbb")


async def _seed(scratch: Scratch) -> None:
    notes = scratch.tables.notes
    async with scratch.db.unit_of_work(system=True) as session:
        await session.execute(notes.insert(), [{"tenant_id": ACME, "body": "acme-1"},
                                               {"tenant_id": ACME, "body": "acme-2"},
                                               {"tenant_id": GLOBEX, "body": "globex-1"}])


async def _bodies(db: Database, notes: Any, **scope: Any) -> list[str]:
    """Every note the transaction can see, queried WITHOUT a tenant filter."""
    async with db.unit_of_work(**scope) as session:
        return list((await session.execute(select(notes.c.body).order_by(notes.c.body))).scalars())


async def test_unfiltered_query_sees_only_the_scoped_tenant(scratch: Scratch) -> None:
    await _seed(scratch)
    notes = scratch.tables.notes

    assert await _bodies(scratch.db, notes, tenant_id=ACME) == ["acme-1", "acme-2"]
    assert await _bodies(scratch.db, notes, tenant_id=GLOBEX) == ["globex-1"]
    assert await _bodies(scratch.db, notes) == [], "a transaction without a scope sees no tenant's rows"
    assert await _bodies(scratch.db, notes, system=True) == ["acme-1", "acme-2", "globex-1"]
    async with scratch.db.unit_of_work(tenant_id=ACME) as session:
        changed = await session.execute(notes.update().values(body="touched"))
        assert changed.rowcount == 2, "an unfiltered UPDATE reaches only the scoped tenant's rows"
    assert await _bodies(scratch.db, notes, tenant_id=GLOBEX) == ["globex-1"]


async def test_writing_a_row_of_another_tenant_is_refused(scratch: Scratch) -> None:
    notes = scratch.tables.notes
    with pytest.raises(DBAPIError, match="row-level security"):
        async with scratch.db.unit_of_work(tenant_id=ACME) as session:
            await session.execute(notes.insert().values(tenant_id=GLOBEX, body="smuggled"))
    with pytest.raises(DBAPIError, match="row-level security"):
        async with scratch.db.unit_of_work() as session:
            await session.execute(notes.insert().values(tenant_id=ACME, body="unscoped"))
    async with scratch.db.unit_of_work(tenant_id=ACME) as session:
        await session.execute(notes.insert().values(tenant_id=ACME, body="own"))
    assert await _bodies(scratch.db, notes, system=True) == ["own"]


async def test_scope_ends_with_the_transaction_on_a_pooled_connection(scratch: Scratch) -> None:
    await _seed(scratch)
    notes = scratch.tables.notes
    db = Database(create_engine(scratch.database_url, scratch.schema, pool_size=1))
    try:
        async with db.sessions() as session:
            async with session.begin():
                await scope_to_tenant(session, GLOBEX)
                assert (await session.execute(select(func.count()).select_from(notes))).scalar_one() == 1
            async with session.begin():  # same pooled connection, next transaction: the scope is gone
                assert (await session.execute(select(func.count()).select_from(notes))).scalar_one() == 0
                await scope_to_system(session)
                assert (await session.execute(select(func.count()).select_from(notes))).scalar_one() == 3
        assert await _bodies(db, notes) == []
        async with db.engine.connect() as conn:
            role = (await conn.execute(text("select rolbypassrls or rolsuper from pg_roles "
                                            "where rolname = current_user"))).scalar_one()
        assert role is False, "the service role must not bypass row-level security"
    finally:
        await db.dispose()


# -- HTTP: TenantSession scopes the request to the caller's tenant ---------------------------------


@pytest.fixture(scope="module")
def signing_key() -> Iterator[tuple[Ed25519PrivateKey, str]]:
    """An EdDSA key and a JWKS endpoint serving its public half, like the gateway's."""
    key = Ed25519PrivateKey.generate()
    jwk = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(key.public_key()))
    body = json.dumps({"keys": [{**jwk, "kid": "kit-rls", "use": "sig", "alg": "EdDSA"}]}).encode()

    class Jwks(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Jwks)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield key, f"http://127.0.0.1:{server.server_address[1]}/jwks.json"
    finally:
        server.shutdown()


def _token(key: Ed25519PrivateKey, tenant_id: UUID) -> str:
    now = int(time.time())
    claims = {"sub": str(uuid.uuid4()), "tid": str(tenant_id), "role": "agent", "iss": ISSUER, "aud": AUDIENCE,
              "iat": now, "exp": now + 300}
    return jwt.encode(claims, key, algorithm="EdDSA", headers={"kid": "kit-rls"})


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """create_app() configures process-wide JSON logging; give the next tests their logging back."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.reset_defaults()


async def test_tenant_session_scopes_a_request_to_the_callers_tenant(
    scratch: Scratch, signing_key: tuple[Ed25519PrivateKey, str], restore_logging: None, platform: Platform,
) -> None:
    await _seed(scratch)
    key, jwks_url = signing_key
    notes = scratch.tables.notes
    router = APIRouter()

    @router.get("/notes")
    async def list_notes(session: TenantSession) -> dict[str, list[str]]:
        rows = await session.execute(select(notes.c.body).order_by(notes.c.body))  # no tenant filter on purpose
        return {"notes": list(rows.scalars())}

    # Services check token revocations in Valkey: the platform's.
    settings = scratch.settings(jwks_url=jwks_url, redis_url=platform.infra.redis_url)
    service = Service(ServiceDefinition(name="kit-rls", settings=settings,
                                        metadata=scratch.tables.metadata, store=scratch.store,
                                        migrations_dir=SCRATCH_MIGRATIONS, routers=[router]))
    app = service.create_app()
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://kit") as client:
            acme = await client.get("/notes", headers={"authorization": f"Bearer {_token(key, ACME)}"})
            globex = await client.get("/notes", headers={"authorization": f"Bearer {_token(key, GLOBEX)}"})
            anonymous = await client.get("/notes")
    finally:
        await service.db.dispose()
    assert acme.status_code == 200, acme.text
    assert acme.json() == {"notes": ["acme-1", "acme-2"]}
    assert globex.json() == {"notes": ["globex-1"]}
    assert anonymous.status_code == 401
    assert anonymous.json()["success"] is False
    assert anonymous.json()["error"]["code"] == "missing_token"
