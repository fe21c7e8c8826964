"""Create each service's database role and schema (run once per environment, as an admin).

Usage: ``python -m parley.kit.provision`` with ``PARLEY_ADMIN_DATABASE_URL`` and each service's
``<PREFIX>DATABASE_URL``; the role name and password are taken from that URL. Idempotent.
"""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import dataclass

import asyncpg
from sqlalchemy.engine import make_url

#: service -> (env prefix, schema). The schema is also the search path of the role.
SERVICES: dict[str, tuple[str, str]] = {
    "ingest": ("INGEST_", "ingest"),
    "conversation": ("CONVERSATION_", "conversation"),
    "sender": ("SENDER_", "sender"),
    "campaign": ("CAMPAIGN_", "campaign"),
    "flow-engine": ("FLOW_ENGINE_", "flow_engine"),
    "egress": ("EGRESS_", "egress"),
    "gateway": ("GATEWAY_", "gateway"),
}


@dataclass(frozen=True)
class Grant:
    role: str
    password: str
    schema: str


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


async def provision(admin_url: str, grants: list[Grant]) -> None:
    """Roles that can log in and own exactly one schema each; nobody else may use that schema."""
    url = make_url(admin_url).set(drivername="postgresql")
    conn = await asyncpg.connect(url.render_as_string(hide_password=False))
    try:
        database = await conn.fetchval("select current_database()")
        await conn.execute(f"REVOKE ALL ON DATABASE {_quote(database)} FROM PUBLIC")
        await conn.execute("REVOKE ALL ON SCHEMA public FROM PUBLIC")
        for grant in grants:
            role, schema = _quote(grant.role), _quote(grant.schema)
            exists = await conn.fetchval("select 1 from pg_roles where rolname = $1", grant.role)
            verb = "ALTER" if exists else "CREATE"
            await conn.execute(f"{verb} ROLE {role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS "
                               f"PASSWORD {_literal(grant.password)}")
            await conn.execute(f"GRANT CONNECT ON DATABASE {_quote(database)} TO {role}")
            await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema} AUTHORIZATION {role}")
            await conn.execute(f"ALTER SCHEMA {schema} OWNER TO {role}")
            await conn.execute(f"REVOKE ALL ON SCHEMA {schema} FROM PUBLIC")
            await conn.execute(f"ALTER ROLE {role} SET search_path = {schema}")
    finally:
        await conn.close()


def grants_from_env(environ: dict[str, str]) -> list[Grant]:
    grants = []
    for name, (prefix, schema) in SERVICES.items():
        raw = environ.get(f"{prefix}DATABASE_URL")
        if not raw:
            raise SystemExit(f"{prefix}DATABASE_URL is not set (needed to provision {name})")
        url = make_url(raw)
        if not url.username or not url.password:
            raise SystemExit(f"{prefix}DATABASE_URL must name the service's role and password")
        grants.append(Grant(role=url.username, password=url.password, schema=schema))
    return grants


def main() -> None:
    admin = os.environ.get("PARLEY_ADMIN_DATABASE_URL")
    if not admin:
        sys.exit("PARLEY_ADMIN_DATABASE_URL is not set")
    grants = grants_from_env(dict(os.environ))
    asyncio.run(provision(admin, grants))
    print(f"provisioned {len(grants)} service roles and schemas")


if __name__ == "__main__":
    main()
