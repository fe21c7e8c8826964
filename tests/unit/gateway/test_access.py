"""The role matrix, API key scopes and plan features, as the gateway applies them per route."""

from __future__ import annotations

import pytest

from parley.gateway.access import FORWARDED, RULES, Grant, authorize, forwarded_rule, rule_for
from parley.gateway.plans import FeatureNotInPlan
from parley.gateway.tenant_state import TenantState
from parley.kit.errors import Forbidden, NotFound

EVERYTHING = TenantState("active", "scale", ("campaigns", "flows", "outbound_webhooks"))


@pytest.mark.parametrize(("role", "method", "path", "allowed"), [
    ("agent", "GET", "/v1/conversations/1/messages", True),
    ("agent", "POST", "/v1/conversations/1/messages", True),
    ("agent", "POST", "/v1/channels", False),
    ("agent", "GET", "/v1/exports", False),
    ("manager", "GET", "/v1/exports/9", True),
    ("manager", "POST", "/v1/hooks", False),
    ("admin", "POST", "/v1/hooks", True),
    ("admin", "PATCH", "/v1/tenant", False),
    ("owner", "PATCH", "/v1/tenant", True),
])
def test_each_role_reaches_what_the_matrix_says(role: str, method: str, path: str, allowed: bool) -> None:
    rule = rule_for(path)
    assert rule is not None
    if allowed:
        authorize(rule, method, role, Grant(), EVERYTHING)
    else:
        with pytest.raises(Forbidden) as refused:
            authorize(rule, method, role, Grant(), EVERYTHING)
        assert refused.value.code == "insufficient_role"


def test_a_key_needs_the_scope_for_the_resource_and_the_access() -> None:
    rule = forwarded_rule("/v1/contacts/42")
    reader = Grant(frozenset({"contacts:read"}))

    authorize(rule, "GET", "admin", reader, EVERYTHING)
    with pytest.raises(Forbidden) as refused:
        authorize(rule, "PATCH", "admin", reader, EVERYTHING)
    assert refused.value.details == {"required_scope": "contacts:write"}
    authorize(rule, "PATCH", "admin", Grant(frozenset({"*"})), EVERYTHING)


def test_a_feature_outside_the_plan_names_the_feature() -> None:
    free = TenantState("active", "free", ())

    with pytest.raises(FeatureNotInPlan) as refused:
        authorize(forwarded_rule("/v1/flows/1"), "GET", "owner", Grant(), free)

    assert refused.value.details == {"feature": "flows", "plan": "free"}


@pytest.mark.parametrize("path", ["/v1/users", "/v1/nothing", "/v1/hooksx", "/v1/hooks/../users", "/v1/hooks/./x"])
def test_only_service_prefixes_are_forwarded(path: str) -> None:
    with pytest.raises(NotFound):
        forwarded_rule(path)


def test_prefixes_do_not_overlap_and_every_forwarded_one_names_a_service() -> None:
    prefixes = [rule.prefix for rule in RULES]
    assert len(prefixes) == len(set(prefixes))
    assert all(rule.service for rule in FORWARDED)
    assert {rule.service for rule in FORWARDED} == {"conversation", "sender", "ingest", "campaign", "flow-engine",
                                                     "egress"}
