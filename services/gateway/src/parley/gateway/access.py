"""Who may call what: the role matrix per (method, prefix), plan features, API key scopes.

Roles are ranked (agent < manager < admin < owner); each route prefix names the lowest role that may
read it (GET/HEAD) and the lowest that may change it (POST/PUT/PATCH/DELETE). API keys act with the
admin role, narrowed by their scopes ``<resource>:read`` / ``<resource>:write`` (``*`` grants all).
"""

from __future__ import annotations

from dataclasses import dataclass

from parley.gateway.plans import FeatureNotInPlan
from parley.gateway.tenant_state import TenantState
from parley.kit.errors import Forbidden, NotFound

ROLE_RANK = {"agent": 1, "manager": 2, "admin": 3, "owner": 4}
API_KEY_ROLE = "admin"
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class RouteRule:
    prefix: str
    service: str | None  # None: served by the gateway itself
    read: str
    write: str
    feature: str | None = None

    @property
    def resource(self) -> str:
        return self.prefix.removeprefix("/v1/")

    def matches(self, path: str) -> bool:
        return path == self.prefix or path.startswith(self.prefix + "/")


RULES: tuple[RouteRule, ...] = (
    RouteRule("/v1/conversations", "conversation", read="agent", write="agent"),
    RouteRule("/v1/contacts", "conversation", read="agent", write="agent"),
    RouteRule("/v1/teams", "conversation", read="agent", write="manager"),
    RouteRule("/v1/agents", "conversation", read="agent", write="manager"),
    RouteRule("/v1/pipeline", "conversation", read="agent", write="manager"),
    RouteRule("/v1/exports", "conversation", read="manager", write="manager"),
    RouteRule("/v1/opt-outs", "conversation", read="agent", write="agent"),
    RouteRule("/v1/blocklist", "conversation", read="manager", write="manager"),
    RouteRule("/v1/channels", "sender", read="agent", write="admin"),
    RouteRule("/v1/pools", "sender", read="manager", write="admin"),
    RouteRule("/v1/hooks", "ingest", read="admin", write="admin"),
    RouteRule("/v1/campaigns", "campaign", read="manager", write="manager", feature="campaigns"),
    RouteRule("/v1/flows", "flow-engine", read="manager", write="admin", feature="flows"),
    RouteRule("/v1/webhooks", "egress", read="admin", write="admin", feature="outbound_webhooks"),
    # The gateway's own resources.
    RouteRule("/v1/tenant", None, read="agent", write="owner"),
    RouteRule("/v1/users", None, read="agent", write="admin"),
    RouteRule("/v1/invitations", None, read="admin", write="admin"),
    RouteRule("/v1/api-keys", None, read="admin", write="admin"),
)
FORWARDED = tuple(rule for rule in RULES if rule.service is not None)


def rule_for(path: str, rules: tuple[RouteRule, ...] = RULES) -> RouteRule | None:
    return next((rule for rule in rules if rule.matches(path)), None)


def outranks(role: str, required: str) -> bool:
    return ROLE_RANK.get(role, 0) >= ROLE_RANK[required]


@dataclass(frozen=True)
class Grant:
    """What the caller's credential allows beyond its role: all (users) or the key's scopes."""

    scopes: frozenset[str] | None = None  # None: a user's session, limited by role only

    def allows(self, resource: str, write: bool) -> bool:
        if self.scopes is None or "*" in self.scopes:
            return True
        return f"{resource}:{'write' if write else 'read'}" in self.scopes


def authorize(rule: RouteRule, method: str, role: str, grant: Grant, tenant: TenantState) -> None:
    """Forbidden unless the role, the credential's scopes and the tenant's plan all allow ``method``."""
    write = method.upper() not in READ_METHODS
    required = rule.write if write else rule.read
    if not outranks(role, required):
        raise Forbidden(f"the {role} role may not {'change' if write else 'read'} {rule.resource}",
                        code="insufficient_role", details={"required_role": required, "role": role})
    if not grant.allows(rule.resource, write):
        scope = f"{rule.resource}:{'write' if write else 'read'}"
        raise Forbidden(f"this API key lacks the scope {scope}", code="insufficient_scope",
                        details={"required_scope": scope})
    if rule.feature is not None and rule.feature not in tenant.features:
        raise FeatureNotInPlan(rule.feature, tenant.plan)


def forwarded_rule(path: str) -> RouteRule:
    """The forwarding rule of ``path``; NotFound for paths no service owns (or with dot segments)."""
    segments = path.split("/")
    rule = rule_for(path, FORWARDED)
    if rule is None or "." in segments or ".." in segments:
        raise NotFound(f"no route {path}", code="not_found")
    return rule


#: Every resource a scope can name, for validating API key scopes.
SCOPES = frozenset({f"{rule.resource}:{access}" for rule in FORWARDED for access in ("read", "write")} | {"*"})
