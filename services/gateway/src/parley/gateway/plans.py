"""The plan catalogue: what each plan allows. A tenant's row keeps the limits it was given."""

from __future__ import annotations

from parley.contracts.events.tenants import Feature, PlanLimits
from parley.kit.errors import DomainError

ALL_FEATURES: list[Feature] = ["campaigns", "flows", "outbound_webhooks"]

#: name -> (limits, features). ``None`` in a limit means unlimited.
PLANS: dict[str, tuple[PlanLimits, list[Feature]]] = {
    "free": (PlanLimits(numbers=1, agents=2, monthly_messages=1_000), []),
    "starter": (PlanLimits(numbers=2, agents=5, monthly_messages=10_000), ["outbound_webhooks"]),
    "growth": (PlanLimits(numbers=5, agents=20, monthly_messages=100_000), list(ALL_FEATURES)),
    "pro": (PlanLimits(numbers=10, agents=50, monthly_messages=500_000), list(ALL_FEATURES)),
    "scale": (PlanLimits(), list(ALL_FEATURES)),
}
DEFAULT_PLAN = "free"


class UnknownPlan(DomainError):
    code = "unknown_plan"
    status_code = 422


def plan(name: str) -> tuple[PlanLimits, list[Feature]]:
    """The limits and features of ``name``; UnknownPlan when the catalogue has no such plan."""
    try:
        limits, features = PLANS[name]
    except KeyError:
        raise UnknownPlan(f"there is no plan {name!r}", details={"plans": sorted(PLANS)}) from None
    return limits.model_copy(), list(features)


class PlanLimitReached(DomainError):
    """A plan limit would be exceeded; the error names the limit."""

    code = "plan_limit_reached"
    status_code = 403

    def __init__(self, limit: str, allowed: int, plan_name: str) -> None:
        super().__init__(f"the {plan_name} plan allows {allowed} {limit}; upgrade the plan for more",
                         details={"limit": limit, "allowed": allowed, "plan": plan_name})


class FeatureNotInPlan(DomainError):
    code = "feature_not_in_plan"
    status_code = 403

    def __init__(self, feature: str, plan_name: str) -> None:
        super().__init__(f"the {plan_name} plan does not include {feature}",
                         details={"feature": feature, "plan": plan_name})
