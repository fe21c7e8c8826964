"""Prometheus metrics of the realtime WebSocket (gateway)."""

from prometheus_client import Counter, Gauge, Histogram

CONNECTIONS = Gauge("parley_gateway_realtime_connections", "Open realtime WebSocket connections of this replica")
FRAMES_SENT = Counter("parley_gateway_realtime_frames_sent_total", "Event frames written to realtime sockets")
CLIENTS_DROPPED = Counter(
    "parley_gateway_realtime_clients_dropped_total", "Realtime sockets closed by the gateway, by reason", ["reason"]
)
RESUMES = Counter(
    "parley_gateway_realtime_resumes_total",
    "Connections that asked to resume from a last event id: resumed, or told to resync (beyond the horizon)",
    ["outcome"],
)
EVENTS_FANNED_IN = Counter(
    "parley_gateway_realtime_events_total",
    "Events the fan-in consumer handled: appended to a tenant stream, duplicate, stale or without tenant",
    ["outcome"],
)
FAN_IN_DELAY = Histogram(
    "parley_gateway_realtime_fan_in_delay_seconds", "From the event's time to its append to the tenant stream",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
