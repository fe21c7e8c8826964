"""Pure parts of the RLS primitives and of subscriptions (the database side: tests/integration/kit)."""

from __future__ import annotations

import uuid

import pytest

from parley.kit.consumer import Subscription
from parley.kit.rls import disable_tenant_rls, enable_tenant_rls, policy_predicate, scope_parameters


class RecordingOp:
    """Stands in for alembic's ``op``: keeps the SQL a migration would run."""

    def __init__(self) -> None:
        self.statements: list[str] = []

    def execute(self, statement: str) -> None:
        self.statements.append(statement)


def test_policy_admits_system_scope_or_the_scoped_tenant_and_never_an_empty_one() -> None:
    predicate = policy_predicate()
    assert "current_setting('parley.rls_bypass', true) = 'on'" in predicate
    assert "\"tenant_id\" = nullif(current_setting('parley.tenant_id', true), '')::uuid" in predicate


def test_enable_forces_rls_because_the_service_role_owns_its_tables() -> None:
    op = RecordingOp()
    enable_tenant_rls(op, "contacts", schema="conversation")
    assert op.statements[:2] == ['ALTER TABLE "conversation"."contacts" ENABLE ROW LEVEL SECURITY',
                                 'ALTER TABLE "conversation"."contacts" FORCE ROW LEVEL SECURITY']
    assert "USING" in op.statements[-1] and "WITH CHECK" in op.statements[-1]
    disable = RecordingOp()
    disable_tenant_rls(disable, "contacts", schema="conversation")
    assert disable.statements[-1] == 'ALTER TABLE "conversation"."contacts" DISABLE ROW LEVEL SECURITY'


def test_a_tenant_scope_never_bypasses_and_no_tenant_means_system_scope() -> None:
    tenant = uuid.uuid4()
    assert scope_parameters(tenant) == {"tenant": str(tenant), "bypass": "off"}
    assert scope_parameters(None) == {"tenant": "", "bypass": "on"}


async def _handler(session: object, envelope: object) -> None:
    return None


def test_a_subscription_takes_exactly_one_kind_of_handler() -> None:
    assert Subscription("c", ("t",), _handler).handler is _handler  # positional, as every service writes it
    assert Subscription("c", ("t",), batch_handler=_handler).batch_handler is _handler
    with pytest.raises(ValueError, match="exactly one"):
        Subscription("c", ("t",))
    with pytest.raises(ValueError, match="exactly one"):
        Subscription("c", ("t",), _handler, batch_handler=_handler)
