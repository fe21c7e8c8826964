"""Row-level security scopes of the gateway's transactions (see ``parley.kit.rls``).

Almost everything runs in one tenant's scope. A few lookups must find a row before its tenant is known: a
login's e-mail, an API key, refresh or invitation token by its hash, and the e-mail that must be unique
across the platform. Those run ``across_tenants`` for that one query; the caller then continues in the
tenant scope of what it found.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from parley.kit.rls import BYPASS_SETTING, TENANT_SETTING

# OFFSET 0 keeps the subquery (the scope before) from being flattened into the set_config that replaces it.
_ENTER_SYSTEM = text(
    f"SELECT before.tenant, before.bypass, set_config('{BYPASS_SETTING}', 'on', true) FROM ("
    f"SELECT current_setting('{TENANT_SETTING}', true) AS tenant, "
    f"current_setting('{BYPASS_SETTING}', true) AS bypass OFFSET 0) AS before")
_RESTORE = text(f"SELECT set_config('{TENANT_SETTING}', :tenant, true), set_config('{BYPASS_SETTING}', :bypass, true)")


@asynccontextmanager
async def across_tenants(session: AsyncSession) -> AsyncIterator[None]:
    """System scope for the statements of the block, then the transaction's scope as it was before.

    Only for a lookup that identifies its tenant (by a credential or a platform-wide unique e-mail):
    keep the block to that one query. When the block raises, the transaction is rolled back anyway.
    """
    before = (await session.execute(_ENTER_SYSTEM)).one()
    yield
    await session.execute(_RESTORE, {"tenant": before.tenant or "", "bypass": before.bypass or "off"})
