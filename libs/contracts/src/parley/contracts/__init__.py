"""Parley event contracts: one CloudEvents envelope around typed, versioned payloads.

Everything that crosses a service boundary on Kafka is defined here and nowhere else.
Changes are additive; every (type, schema version) has a golden sample under ``golden/``.
"""

from parley.contracts.envelope import Envelope, new_event_id
from parley.contracts.registry import EVENT_TYPES, TOPICS, EventSpec, TopicSpec, payload_model, spec_for

__all__ = [
    "EVENT_TYPES",
    "TOPICS",
    "Envelope",
    "EventSpec",
    "TopicSpec",
    "new_event_id",
    "payload_model",
    "spec_for",
]
