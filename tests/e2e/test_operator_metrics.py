"""Every metric the Grafana dashboards and Prometheus alert rules use is really exported.

Posts one signed Meta webhook through ingest (so the labelled series of the pipeline exist),
waits until the ingest normalizer and the conversation consumer handled it, then scrapes
/metrics of every service of the running platform and checks each parley_* metric referenced in
deploy/observability against the union of the expositions. Metrics from kafka-exporter and
Prometheus itself (kafka_consumergroup_lag, up, ...) are not the services' to export; the ones
listed as pending in tests/unit/deploy/observability_refs.py do not exist yet (a unit test keeps
that list honest).
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from parley.devstack.catalog import SERVICES
from parley.devstack.stack import Platform
from tests.support import meta
from tests.support.platform import eventually
from tests.unit.deploy.observability_refs import (
    PENDING_METRICS,
    TARGET_LABELS,
    exposed_names,
    queries,
    referenced_parley_metrics,
    selectors,
)

pytestmark = pytest.mark.e2e


def _scrape(platform: Platform, service: str) -> list[Any]:
    response = httpx.get(f"{platform.url(service)}/metrics", timeout=10)
    assert response.status_code == 200, f"{service}: /metrics answered {response.status_code}"
    assert response.headers["content-type"].startswith("text/plain")
    return list(text_string_to_metric_families(response.text))


def _consumed(platform: Platform, service: str, consumer: str) -> bool:
    return any(
        sample.labels.get("consumer", "").endswith(consumer) and sample.value > 0
        for family in _scrape(platform, service) if family.name == "parley_consumer_events"
        for sample in family.samples if sample.name == "parley_consumer_events_total"
    )


@pytest.fixture(scope="module")
def expositions(running_platform: Platform) -> dict[str, list[Any]]:
    env = running_platform.service_env(SERVICES[0])
    secret = env["INGEST_APP_SECRETS"].split(",")[0]
    customer = f"55119{uuid.uuid4().int % 10**8:08d}"
    body = meta.encode(meta.text_notification(env["PARLEY_DEMO_PHONE_NUMBER_ID"], customer, "metrics probe"))
    response = httpx.post(f"{running_platform.url('ingest')}/webhooks/whatsapp", content=body,
                          headers=meta.signed_headers(body, secret), timeout=30)
    assert response.status_code == 200, response.text
    eventually(lambda: _consumed(running_platform, "ingest", "ingest.normalizer"), "the ingest normalizer")
    eventually(lambda: _consumed(running_platform, "conversation", "conversation.inbound"),
                "the conversation consumer")
    return {spec.name: _scrape(running_platform, spec.name) for spec in SERVICES}


def test_every_service_serves_the_kit_metrics(expositions):
    for service, families in expositions.items():
        names = exposed_names(families)
        for metric in ("parley_http_requests_total", "parley_http_request_duration_seconds_bucket",
                       "parley_outbox_backlog", "parley_consumer_events_total"):
            assert metric in names, f"{service} does not export {metric}"


def test_every_metric_of_the_dashboards_and_alerts_is_exported(expositions):
    exposed = set().union(*(exposed_names(families) for families in expositions.values()))
    referenced = referenced_parley_metrics()
    assert referenced, "no parley_* metric referenced: the dashboards or alerts did not load"
    missing = {
        name: sorted(where) for name, where in referenced.items()
        if name not in exposed and name not in PENDING_METRICS
    }
    assert not missing, f"used by dashboards/alerts but exported by no service: {missing}"


def test_labels_the_queries_match_on_exist(expositions):
    """A matcher on a label the metric does not carry silently selects nothing."""
    labels: dict[str, set[str]] = {}
    for families in expositions.values():
        for family in families:
            for sample in family.samples:
                labels.setdefault(sample.name, set()).update(sample.labels)
    wrong = []
    for query in queries():
        for selector in selectors(query.expr):
            if selector.metric not in labels:  # no series yet (e.g. nothing dead-lettered): names checked above
                continue
            unknown = set(selector.labels) - labels[selector.metric] - TARGET_LABELS - {"le"}
            if unknown:
                wrong.append(f"{query.where}: {selector.metric} has no label {sorted(unknown)}")
    assert not wrong, "\n".join(wrong)
