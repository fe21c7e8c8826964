"""What the operator's view (Grafana dashboards, Prometheus alert rules) queries, and which of
those metrics exist. Shared by tests/unit/deploy/test_observability.py (static checks) and
tests/e2e/test_operator_metrics.py (scrapes the running platform)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import promql_parser
import yaml

REPO_ROOT = Path(__file__).resolve().parents[3]
OBSERVABILITY = REPO_ROOT / "deploy" / "observability"
ALERTS_FILE = OBSERVABILITY / "prometheus" / "alerts.yml"
DASHBOARDS_DIR = OBSERVABILITY / "grafana" / "dashboards"

#: Metrics the dashboards and alerts use that the services do NOT export yet. Each panel that
#: uses one is titled "[needs metric]"; docs/operations.md lists them under "Metrics". When a
#: service starts exporting one, delete it here (a test says so).
PENDING_METRICS: dict[str, str] = {}

#: Metrics from other exporters: kafka-exporter (deployed alongside Kafka) and Prometheus itself.
EXTERNAL_METRICS: dict[str, str] = {
    "kafka_consumergroup_lag": "kafka-exporter",
    "kafka_topic_partition_current_offset": "kafka-exporter",
    "kafka_topic_partition_oldest_offset": "kafka-exporter",
    "up": "Prometheus (scrape health)",
}

#: Labels that Prometheus adds at scrape time (target labels), not the services.
TARGET_LABELS = {"service", "instance", "job", "pod", "namespace"}

_GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}


@dataclass(frozen=True)
class Query:
    where: str  # "alerts.yml: ParleyWebhook5xx" or "webhook-intake.json: panel 'Title'"
    expr: str
    pending_ok: bool = False  # a dashboard panel marked [needs metric]


def load_alert_rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(ALERTS_FILE.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def load_dashboards() -> dict[str, dict[str, Any]]:
    return {path.name: json.loads(path.read_text()) for path in sorted(DASHBOARDS_DIR.glob("*.json"))}


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])  # rows


def grafana_expr(expr: str) -> str:
    """A panel query as PromQL: Grafana's interval variables replaced by durations."""
    for variable, duration in _GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, duration)
    return expr


def queries() -> list[Query]:
    found = [Query(f"alerts.yml: {rule.get('alert') or rule.get('record')}", rule["expr"])
             for rule in load_alert_rules()]
    for name, dashboard in load_dashboards().items():
        for panel in panels(dashboard):
            for target in panel.get("targets", []):
                if "expr" in target:
                    found.append(Query(f"{name}: panel {panel.get('title')!r}", grafana_expr(target["expr"]),
                                       pending_ok="[needs metric]" in panel.get("title", "")))
    return found


@dataclass(frozen=True)
class Selector:
    metric: str
    labels: tuple[str, ...]  # label names matched on


def selectors(expr: str) -> list[Selector]:
    """Every metric selector of a PromQL expression (raises ValueError if it does not parse)."""
    found: list[Selector] = []

    def visit(node: Any) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            matchers = list(node.matchers.matchers) if node.matchers else []
            name = node.name or next((m.value for m in matchers if m.name == "__name__"), None)
            if name:
                found.append(Selector(name, tuple(m.name for m in matchers if m.name != "__name__")))

    promql_parser.walk(promql_parser.parse(expr), visit)
    return found


def referenced_metrics(only: Iterable[Query] | None = None) -> dict[str, set[str]]:
    """metric name -> where it is used."""
    used: dict[str, set[str]] = {}
    for query in only if only is not None else queries():
        for selector in selectors(query.expr):
            used.setdefault(selector.metric, set()).add(query.where)
    return used


def referenced_parley_metrics() -> dict[str, set[str]]:
    return {name: where for name, where in referenced_metrics().items() if name.startswith("parley_")}


# ---------------------------------------------------------------------------------------------
# Names a metric family is exposed under (prometheus_client's conventions)

_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("", "_sum", "_count", "_created"),
    "gauge": ("",),
    "info": ("_info",),
    "stateset": ("",),
    "gaugehistogram": ("_bucket", "_gsum", "_gcount"),
    "unknown": ("",),
}


def sample_names(family_name: str, family_type: str) -> set[str]:
    names = {family_name + suffix for suffix in _SUFFIXES.get(family_type, ("",))}
    if family_type == "counter" and family_name.endswith("_total"):  # text parser keeps _total at times
        names.add(family_name)
    return names


def exposed_names(families: Iterable[Any]) -> set[str]:
    """Every sample name a set of prometheus_client metric families can expose (with or without samples)."""
    names: set[str] = set()
    for family in families:
        names |= sample_names(family.name, family.type)
        names |= {sample.name for sample in family.samples}
    return names


_DURATION = re.compile(r"^([0-9]+(ms|s|m|h|d|w|y))+$")


def is_duration(value: str) -> bool:
    return bool(_DURATION.match(value))
