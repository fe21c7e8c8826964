"""The envelope: UUIDv7 ids, wrapping typed payloads."""

import time
from datetime import UTC, datetime
from uuid import UUID

from parley.contracts import Envelope, new_event_id
from parley.contracts.events.channels import ChannelUpdated
from parley.contracts.events.messages import MessageReceived

TENANT = UUID("01969046-4850-70ce-884f-26183f1fba28")


def test_event_ids_are_uuid7_and_sort_by_creation_time():
    before_ms = time.time_ns() // 1_000_000
    ids = [new_event_id() for _ in range(200)]
    after_ms = time.time_ns() // 1_000_000
    assert {event_id.version for event_id in ids} == {7}
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    # uuid6 keeps ids strictly increasing within one millisecond by borrowing the next one.
    assert all(before_ms <= event_id.int >> 80 <= after_ms + len(ids) for event_id in ids)


def test_event_id_timestamp_follows_the_clock():
    started_ms = time.time_ns() // 1_000_000
    first = new_event_id()
    time.sleep(0.3)
    later = new_event_id()
    assert later > first
    assert (later.int >> 80) >= started_ms + 300


def test_default_envelope_id_is_uuid7():
    envelope = Envelope(type="channel.updated", source="/parley/sender", data={"phone_number_id": "1"})
    assert envelope.id.version == 7
    assert envelope.time.tzinfo is not None


def test_wrap_sets_type_version_and_alias_serialised_data():
    message = MessageReceived.model_validate({
        "wamid": "wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQzQUIxRjQ2QjdGMzlBQ0UzQkY0MgA=",
        "phone_number_id": "106540352242922", "wa_id": "16505551234", "from": "16505551234",
        "timestamp": "1749416383", "type": "text", "text": {"body": "Does it come in another color?"},
    })
    at = datetime(2025, 6, 8, 20, 59, 44, tzinfo=UTC)
    envelope = Envelope.wrap(
        message, source="/parley/ingest", tenant_id=TENANT, subject=message.wamid, time=at
    )
    assert (envelope.type, envelope.schemaversion, envelope.time) == ("message.received", 1, at)
    assert envelope.data["from"] == "16505551234"
    assert envelope.data["timestamp"] == "2025-06-08T20:59:43Z"
    assert "profile_name" not in envelope.data, "unset optional fields are left out of the payload"
    assert envelope.payload() == message


def test_wrap_platform_event_without_tenant():
    envelope = Envelope.wrap(ChannelUpdated(phone_number_id="106540352242922", quality_rating="RED"),
                             source="/parley/sender", tenant_id=None)
    assert envelope.tenantid is None
    structured = envelope.model_dump(mode="json", exclude_none=True)
    assert "tenantid" not in structured
    assert structured.keys() >= {"id", "type", "source", "time", "data"}
