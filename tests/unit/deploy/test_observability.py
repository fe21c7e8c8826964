"""The operator's view: Prometheus alert rules and Grafana dashboards are syntactically valid
(PromQL parsed by `promql-parser`, the Python binding of the Rust PromQL parser), use only
metrics that a service declares (or that are listed as pending / external), and are wired into
the compose observability profile."""

from __future__ import annotations

import importlib
import re

import prometheus_client
import promql_parser
import pytest
import yaml

from .conftest import REPO_ROOT, discover_service_dirs, module_name
from .observability_refs import (
    ALERTS_FILE,
    EXTERNAL_METRICS,
    OBSERVABILITY,
    PENDING_METRICS,
    is_duration,
    load_alert_rules,
    load_dashboards,
    panels,
    queries,
    referenced_metrics,
    sample_names,
    selectors,
)

SERVICES = discover_service_dirs()
OPERATIONS = REPO_ROOT / "docs" / "operations.md"


@pytest.fixture(scope="module")
def declared_metrics() -> set[str]:
    """Sample names of every metric the services register when their wiring is imported."""
    for service in SERVICES:
        importlib.import_module(f"parley.{module_name(service)}.main")
    names: set[str] = set()
    for collector in list(prometheus_client.REGISTRY._collector_to_names):  # noqa: SLF001 - no public listing
        for family in collector.describe() if hasattr(collector, "describe") else collector.collect():
            names |= sample_names(family.name, family.type)
    return names


# ---------------------------------------------------------------------------------------------
# Alert rules


def test_alert_rules_file_is_a_valid_rule_file():
    document = yaml.safe_load(ALERTS_FILE.read_text())
    assert set(document) == {"groups"}
    group_names = [g["name"] for g in document["groups"]]
    assert len(group_names) == len(set(group_names))
    for group in document["groups"]:
        assert set(group) <= {"name", "interval", "rules", "limit"}
        assert group["rules"], group["name"]


def test_every_alert_is_complete():
    rules = load_alert_rules()
    names = [r["alert"] for r in rules]
    assert len(names) == len(set(names)), "alert names must be unique"
    for rule in rules:
        name = rule["alert"]
        assert re.fullmatch(r"Parley[A-Z][A-Za-z0-9]+", name), name
        assert set(rule) <= {"alert", "expr", "for", "keep_firing_for", "labels", "annotations"}, name
        assert "for" not in rule or is_duration(rule["for"]), name
        assert rule["labels"]["severity"] in {"warning", "critical"}, name
        annotations = rule["annotations"]
        assert annotations["summary"] and annotations["description"], name
        assert annotations["runbook_url"] == f"docs/operations.md#{name.lower()}", name


@pytest.mark.parametrize("rule", load_alert_rules(), ids=lambda r: r["alert"])
def test_alert_expression_is_valid_promql(rule):
    expr = promql_parser.parse(rule["expr"])
    # An alert fires on the series its expression returns: it must be a vector, not a scalar.
    assert not isinstance(expr, promql_parser.NumberLiteral | promql_parser.StringLiteral), rule["alert"]


def test_the_issue_s_alerts_exist():
    names = {r["alert"] for r in load_alert_rules()}
    assert {
        "ParleyConsumerLagGrowing",
        "ParleyDeadLettersGrowing",
        "ParleyWebhook5xx",
        "ParleySendFailureRate",
        "ParleyChannelNeedsNewToken",
        "ParleyQuarantineGrowing",
    } <= names


def test_every_alert_has_a_runbook_section():
    text = OPERATIONS.read_text()
    headings = {m.group(1).strip() for m in re.finditer(r"^#{2,4} +(.+)$", text, re.M)}
    missing = [r["alert"] for r in load_alert_rules() if r["alert"] not in headings]
    assert not missing, f"docs/operations.md has no section for {missing}"


def test_promql_parser_rejects_broken_expressions():
    for broken in ("sum(rate(parley_x_total[5m])", "rat(parley_x_total[5m])", "parley_x_total{a=}"):
        with pytest.raises(ValueError):
            promql_parser.parse(broken)


# ---------------------------------------------------------------------------------------------
# Dashboards


def test_dashboards_per_concern():
    dashboards = load_dashboards()
    assert set(dashboards) == {
        "webhook-intake.json",
        "pipeline-lag.json",
        "sends.json",
        "realtime.json",
        "dead-letters.json",
    }
    uids = [d["uid"] for d in dashboards.values()]
    assert len(uids) == len(set(uids))
    for name, dashboard in dashboards.items():
        assert dashboard["title"].startswith("Parley / "), name
        assert "parley" in dashboard["tags"], name
        variables = {v["name"]: v for v in dashboard["templating"]["list"]}
        assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
        ids = [p["id"] for p in panels(dashboard)]
        assert len(ids) == len(set(ids)), name
        for panel in panels(dashboard):
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, (name, panel["title"])
            assert panel["targets"], (name, panel["title"])
            assert {"x", "y", "w", "h"} <= set(panel["gridPos"]), (name, panel["title"])
            for target in panel["targets"]:
                assert target["datasource"] == panel["datasource"]


@pytest.mark.parametrize("query", queries(), ids=lambda q: q.where)
def test_every_query_parses(query):
    assert selectors(query.expr), f"{query.where}: no metric in {query.expr!r}"


def test_only_known_external_metrics():
    unknown = {
        name: sorted(where)
        for name, where in referenced_metrics().items()
        if not name.startswith("parley_") and name not in EXTERNAL_METRICS
    }
    assert not unknown, f"metrics from no known exporter: {unknown}"


def test_every_parley_metric_is_declared_by_a_service_or_pending(declared_metrics):
    missing = {
        name: sorted(where)
        for name, where in referenced_metrics().items()
        if name.startswith("parley_") and name not in declared_metrics and name not in PENDING_METRICS
    }
    assert not missing, (
        f"queried but exported by no service: {missing}. Fix the query, or list the metric in "
        "tests/unit/deploy/observability_refs.py PENDING_METRICS and docs/operations.md."
    )


def test_pending_metrics_are_still_pending_and_documented(declared_metrics):
    exported_now = sorted(set(PENDING_METRICS) & declared_metrics)
    assert not exported_now, (
        f"{exported_now} are exported now: remove them from PENDING_METRICS "
        "(tests/unit/deploy/observability_refs.py) and the pending list of docs/operations.md"
    )
    text = OPERATIONS.read_text()
    assert all(f"`{name}" in text for name in PENDING_METRICS)
    used = referenced_metrics()
    assert set(PENDING_METRICS) <= set(used), "a pending metric no dashboard or alert uses"


def test_panels_using_pending_metrics_say_so():
    for query in queries():
        if query.where.startswith("alerts.yml"):
            continue
        pending = {s.metric for s in selectors(query.expr)} & set(PENDING_METRICS)
        assert query.pending_ok == bool(pending), f"{query.where}: [needs metric] in the title iff it uses {pending}"


# ---------------------------------------------------------------------------------------------
# Wiring of the compose observability profile


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())


def _mounts(service: dict) -> dict[str, str]:
    mounts = {}
    for volume in service.get("volumes", []):
        source, target, *_ = volume.split(":")
        mounts[target] = source
    return mounts


def test_observability_profile_services(compose):
    services = compose["services"]
    for name in ("otel-collector", "prometheus", "grafana", "jaeger", "kafka-exporter"):
        assert services[name]["profiles"] == ["observability"], name
    parley = [s for s in SERVICES]
    assert all("profiles" not in services[s] for s in parley + ["kafka", "postgres", "redis"])
    for name in ("grafana", "prometheus", "jaeger"):
        for port in services[name].get("ports", []):
            assert port.startswith("127.0.0.1:"), f"{name} publishes {port} beyond localhost"


def test_prometheus_loads_the_alert_rules_and_scrapes_every_service(compose, service_ports):
    mounts = _mounts(compose["services"]["prometheus"])
    config_path = next(t for t, s in mounts.items() if s.endswith("prometheus/prometheus.yml"))
    assert config_path in " ".join(compose["services"]["prometheus"]["command"])
    config = yaml.safe_load((OBSERVABILITY / "prometheus" / "prometheus.yml").read_text())
    for rule_file in config["rule_files"]:
        assert (REPO_ROOT / mounts[rule_file].removeprefix("./")) == ALERTS_FILE
    targets = {}
    for job in config["scrape_configs"]:
        for static in job.get("static_configs", []):
            for target in static["targets"]:
                targets[target] = static.get("labels", {})
    for service, port in service_ports.items():
        assert targets.get(f"{service}:{port}") == {"service": service}, service
    assert any(t.startswith("kafka-exporter:") for t in targets)


def test_grafana_provisions_the_dashboards(compose):
    mounts = _mounts(compose["services"]["grafana"])
    dashboards_target = next(t for t, s in mounts.items() if s.endswith("grafana/dashboards"))
    provisioning = next(t for t, s in mounts.items() if s.endswith("grafana/provisioning"))
    assert provisioning == "/etc/grafana/provisioning"
    provider = yaml.safe_load((OBSERVABILITY / "grafana/provisioning/dashboards/parley.yml").read_text())
    assert provider["providers"][0]["options"]["path"] == dashboards_target
    datasources = yaml.safe_load((OBSERVABILITY / "grafana/provisioning/datasources/prometheus.yml").read_text())
    prometheus = next(d for d in datasources["datasources"] if d["type"] == "prometheus")
    assert prometheus["url"] == "http://prometheus:9090"


def test_otel_collector_receives_what_the_services_send(compose):
    mounts = _mounts(compose["services"]["otel-collector"])
    config = yaml.safe_load((OBSERVABILITY / "otel-collector.yaml").read_text())
    assert any(t in " ".join(compose["services"]["otel-collector"]["command"]) for t in mounts)
    # the kit exports OTLP over HTTP to <endpoint>/v1/traces
    assert config["receivers"]["otlp"]["protocols"]["http"]["endpoint"].endswith(":4318")
    pipeline = config["service"]["pipelines"]["traces"]
    assert pipeline["receivers"] == ["otlp"] and pipeline["exporters"]
    assert config["exporters"]["otlp/jaeger"]["endpoint"].startswith("jaeger:")
