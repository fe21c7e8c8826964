"""Prometheus metrics shared by every service (the service name is a constant label)."""

from prometheus_client import Counter, Gauge, Histogram

HTTP_REQUESTS = Counter(
    "parley_http_requests_total", "HTTP requests served", ["method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "parley_http_request_duration_seconds", "HTTP request latency", ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
EVENTS_APPENDED = Counter("parley_events_appended_total", "Domain events appended to the event store", ["event_type"])
OUTBOX_PUBLISHED = Counter("parley_outbox_published_total", "Stored events published to Kafka", ["topic"])
OUTBOX_BACKLOG = Gauge("parley_outbox_backlog", "Stored events not yet published")
OUTBOX_ERRORS = Counter("parley_outbox_errors_total", "Relay batches that failed and will be retried")
CONSUMED = Counter(
    "parley_consumer_events_total", "Events handled by consumers, by outcome", ["consumer", "topic", "outcome"]
)
CONSUMER_RETRIES = Counter("parley_consumer_retries_total", "Transient failures retried", ["consumer", "topic"])
DEAD_LETTERED = Counter("parley_consumer_dead_lettered_total", "Events sent to a DLQ", ["consumer", "topic"])
CONSUMER_BATCH_SIZE = Histogram(
    "parley_consumer_batch_size", "Records per partition batch handed to a consumer", ["consumer"],
    buckets=(1, 2, 5, 10, 25, 50, 100, 250, 500, 1000),
)
