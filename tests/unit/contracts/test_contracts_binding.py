"""CloudEvents Kafka binding (binary content mode): records round-trip and bad records are rejected."""

import json
from uuid import UUID

import pytest

from parley.contracts import TOPICS, Envelope, golden, spec_for
from parley.contracts.binding import MalformedEvent, from_record, stored_to_record, to_record
from parley.contracts.registry import UnknownEventType, partition_key

SAMPLES = golden.samples()
SAMPLE_IDS = [name for name, _ in SAMPLES]
MAIN = dict(SAMPLES)["message.received.v1"]


def _expected_key(document: dict) -> str:
    """Keys as documented in ARCHITECTURE.md, derived here independently of the registry's functions."""
    data, tenant = document["data"], document.get("tenantid")
    topic = spec_for(document["type"], document["schemaversion"]).topic
    if document["type"] == "webhook.mapped":
        return f"{tenant}:{data['phone']}" if data.get("phone") else data["hook_id"]
    if topic == "webhook.received":
        return data["phone_number_ids"][0]
    if topic == "waba.updated":
        return data["waba_id"]
    if topic == "channel.changed":
        return data["phone_number_id"]
    if topic in {"tenant.changed", "user.changed", "pipeline.changed"}:
        return data["tenant_id"]
    customer = {"message.requested": "to", "message.status": "recipient_id"}.get(topic, "wa_id")
    return f"{tenant}:{data[customer]}"


@pytest.mark.parametrize(("name", "document"), SAMPLES, ids=SAMPLE_IDS)
def test_record_round_trips(name, document):
    envelope = Envelope.model_validate(document)
    key, value, headers = to_record(envelope)
    assert from_record(value, headers) == envelope
    assert from_record(value, dict(headers)) == envelope
    assert key.decode() == _expected_key(document)


@pytest.mark.parametrize(("name", "document"), SAMPLES, ids=SAMPLE_IDS)
def test_record_headers_carry_the_attributes(name, document):
    envelope = Envelope.model_validate(document)
    _key, value, headers = to_record(envelope)
    names = [header for header, _ in headers]
    assert len(names) == len(set(names)), "a header is repeated"
    as_text = {header: raw.decode() for header, raw in headers}
    assert as_text["ce_id"] == document["id"]
    assert as_text["ce_type"] == document["type"]
    assert as_text["ce_source"] == document["source"]
    assert as_text["ce_specversion"] == "1.0"
    assert as_text["ce_schemaversion"] == str(document["schemaversion"])
    assert as_text["ce_traceparent"] == as_text["traceparent"] == document["traceparent"]
    assert as_text["content-type"] == "application/json"
    assert as_text.get("ce_tenantid") == document.get("tenantid")
    assert all(h.startswith("ce_") or h in {"content-type", "traceparent"} for h in names)
    assert json.loads(value) == document["data"], "the record value is exactly the data payload"


@pytest.mark.parametrize(("name", "document"), SAMPLES, ids=SAMPLE_IDS)
def test_the_relay_publishes_a_stored_envelope_as_to_record_would(name, document):
    envelope = Envelope.model_validate(document)
    key = partition_key(envelope)
    # As the event store holds it: every attribute, None ones as null; and without its trace context.
    stored = envelope.model_dump(mode="json")
    untraced = {**stored, "traceparent": None}
    assert stored_to_record(stored, key) == to_record(envelope)
    assert stored_to_record(untraced, key) == to_record(Envelope.model_validate(untraced))
    assert stored_to_record(document, key) == to_record(envelope), "the canonical form (no nulls) too"


def test_non_ascii_payload_travels_as_utf8_not_escapes():
    document = dict(SAMPLES)["message.received.v1.reaction"]
    _key, value, _headers = to_record(Envelope.model_validate(document))
    assert "\U0001f44d".encode() in value


def test_message_topics_are_keyed_by_tenant_and_customer():
    for topic in ("message.received", "message.requested", "message.status", "conversation.changed"):
        assert TOPICS[topic].key == "tenant_id:wa_id"
    key, _value, _headers = to_record(Envelope.model_validate(MAIN))
    assert key == f"{MAIN['tenantid']}:16505551234".encode()


def test_channel_topic_is_keyed_by_phone_number_id():
    assert TOPICS["channel.changed"].key == "phone_number_id"
    for name in ("channel.registered.v1", "channel.updated.v1", "channel.deregistered.v1"):
        key, _value, _headers = to_record(Envelope.model_validate(dict(SAMPLES)[name]))
        assert key == b"106540352242922"


def test_every_customer_of_a_tenant_keeps_its_own_order():
    """Two customers of one tenant, and one customer of two tenants, land on different keys."""
    other_customer = {**MAIN, "data": {**MAIN["data"], "wa_id": "447700900123", "from": "447700900123"}}
    other_tenant = {**MAIN, "tenantid": "0196904f-1e2a-7c11-8a5d-6f0b3c2d1e4f"}
    keys = {to_record(Envelope.model_validate(doc))[0] for doc in (MAIN, other_customer, other_tenant)}
    assert len(keys) == 3


def _headers(document: dict) -> list[tuple[str, bytes]]:
    return to_record(Envelope.model_validate(document))[2]


@pytest.mark.parametrize(
    "value", [b"not json", b"\xff\xfe", b"", None], ids=["text", "binary", "empty", "tombstone"]
)
def test_from_record_rejects_non_json_value(value):
    with pytest.raises(MalformedEvent, match="value is not JSON"):
        from_record(value, _headers(MAIN))


def test_from_record_rejects_json_that_is_not_an_object():
    with pytest.raises(MalformedEvent, match="invalid CloudEvent attributes"):
        from_record(b"[1, 2, 3]", _headers(MAIN))


@pytest.mark.parametrize("missing", ["ce_type", "ce_id", "ce_source", "ce_specversion"])
def test_from_record_rejects_missing_required_header(missing):
    headers = [(name, raw) for name, raw in _headers(MAIN) if name != missing]
    with pytest.raises(MalformedEvent, match=f"missing CloudEvents header\\(s\\): {missing}"):
        from_record(json.dumps(MAIN["data"]).encode(), headers)


def test_from_record_rejects_bad_attribute_values():
    headers = [(n, b"not-a-uuid" if n == "ce_id" else raw) for n, raw in _headers(MAIN)]
    with pytest.raises(MalformedEvent, match="invalid CloudEvent attributes"):
        from_record(json.dumps(MAIN["data"]).encode(), headers)
    headers = [(n, b"\xff" if n == "ce_source" else raw) for n, raw in _headers(MAIN)]
    with pytest.raises(MalformedEvent, match="not UTF-8"):
        from_record(json.dumps(MAIN["data"]).encode(), headers)


def test_from_record_ignores_unknown_ce_extensions_and_other_headers():
    """A producer adding a new extension attribute must not turn every record into poison."""
    headers = _headers(MAIN) + [("ce_partitionkey", b"x"), ("dlq_reason", b"timeout")]
    envelope = from_record(json.dumps(MAIN["data"]).encode(), headers)
    assert envelope == Envelope.model_validate(MAIN)


def test_unknown_event_type_is_rejected_by_payload_not_by_the_binding():
    unknown = Envelope.model_validate({**MAIN, "type": "message.exploded"})
    with pytest.raises(UnknownEventType, match="message.exploded"):
        unknown.payload()
    newer_version = Envelope.model_validate({**MAIN, "schemaversion": 99})
    with pytest.raises(UnknownEventType, match="version 99"):
        newer_version.payload()
    headers = [(n, b"message.exploded" if n == "ce_type" else raw) for n, raw in _headers(MAIN)]
    consumed = from_record(json.dumps(MAIN["data"]).encode(), headers)
    assert consumed.type == "message.exploded" and consumed.id == UUID(MAIN["id"])
    with pytest.raises(UnknownEventType):
        consumed.payload()
    with pytest.raises(UnknownEventType):
        to_record(unknown)
