"""Golden samples: every published (type, version) keeps parsing, in every shape we document."""

import copy
import json
from datetime import datetime
from importlib.resources import files
from uuid import UUID

import pytest

from parley.contracts import EVENT_TYPES, Envelope, golden
from parley.contracts.events.messages import MessageReceived

SAMPLES = golden.samples()
SAMPLE_IDS = [name for name, _ in SAMPLES]

MESSAGE_RECEIVED_VARIANTS = {
    "image": "image",
    "location": "location",
    "interactive_button_reply": "interactive",
    "reaction": "reaction",
    "reaction_removed": "reaction",
    "system_user_changed_number": "system",
    "unsupported": "unsupported",
    "text_referral_context": "text",
}


def test_samples_ship_as_package_resources():
    resource_names = {entry.name for entry in files("parley.contracts.golden").iterdir()}
    assert {f"{name}.json" for name in SAMPLE_IDS} <= resource_names
    assert len(SAMPLES) == len([n for n in resource_names if n.endswith(".json")])
    assert "message.received.v1.json" in resource_names


def test_every_registered_event_version_has_a_main_sample():
    names = set(SAMPLE_IDS)
    missing = [f"{t}.v{v}" for (t, v) in EVENT_TYPES if f"{t}.v{v}" not in names]
    assert not missing, f"add a golden sample under parley/contracts/golden/ for: {missing}"


@pytest.mark.parametrize(("name", "document"), SAMPLES, ids=SAMPLE_IDS)
def test_sample_name_matches_a_registered_event(name, document):
    event_type, version, _variant = golden.parse_name(name)
    assert (event_type, version) in EVENT_TYPES, f"{name}.json is for an unregistered event"
    assert (document["type"], document["schemaversion"]) == (event_type, version)


@pytest.mark.parametrize(("name", "document"), SAMPLES, ids=SAMPLE_IDS)
def test_sample_parses_into_envelope_and_payload_model(name, document):
    envelope = Envelope.model_validate(document)
    payload = envelope.payload()
    assert isinstance(payload, EVENT_TYPES[(envelope.type, envelope.schemaversion)].model)


@pytest.mark.parametrize(("name", "document"), SAMPLES, ids=SAMPLE_IDS)
def test_sample_is_canonical_so_no_field_is_silently_ignored(name, document):
    """Payloads ignore unknown fields, so a misspelt field would parse; re-serialising must be lossless."""
    envelope = Envelope.model_validate(document)
    assert envelope.model_dump(mode="json", exclude_none=True) == document
    assert envelope.payload().model_dump(mode="json", exclude_none=True) == document["data"]


@pytest.mark.parametrize(("name", "document"), SAMPLES, ids=SAMPLE_IDS)
def test_sample_id_is_uuid7_minted_at_event_time(name, document):
    event_id = UUID(document["id"])
    assert event_id.version == 7
    minted_ms = event_id.int >> 80
    event_ms = datetime.fromisoformat(document["time"]).timestamp() * 1000
    assert abs(minted_ms - event_ms) < 5_000


@pytest.mark.parametrize(("name", "document"), SAMPLES, ids=SAMPLE_IDS)
def test_sample_carries_every_cloudevents_attribute(name, document):
    assert document["specversion"] == "1.0"
    assert document["datacontenttype"] == "application/json"
    assert document["source"].startswith("/parley/")
    assert document["subject"]
    assert document["traceparent"].startswith("00-")
    if document["type"] != "webhook.received":  # routed to a tenant only after ingest normalises it
        assert UUID(document["tenantid"])


@pytest.mark.parametrize(("variant", "message_type"), sorted(MESSAGE_RECEIVED_VARIANTS.items()))
def test_message_received_variant_exists_and_parses(variant, message_type):
    document = dict(SAMPLES)[f"message.received.v1.{variant}"]
    message = Envelope.model_validate(document).payload()
    assert isinstance(message, MessageReceived)
    assert message.type == message_type
    assert message.wamid.startswith("wamid.HBgL")
    assert message.phone_number_id == "106540352242922"
    assert message.wa_id == message.from_ == "16505551234"


def test_message_received_variants_carry_their_shape():
    messages = {
        name.rsplit(".", 1)[-1]: Envelope.model_validate(doc).payload()
        for name, doc in SAMPLES
        if name.startswith("message.received.v1.")
    }
    assert messages["image"].media.mime_type == "image/jpeg" and messages["image"].media.id
    assert messages["location"].location.latitude == pytest.approx(37.48467)
    assert messages["interactive_button_reply"].interactive.type == "button_reply"
    assert messages["interactive_button_reply"].interactive.reply_id == "confirm_order_4471"
    assert messages["interactive_button_reply"].context.from_ == "15550783881"
    assert messages["reaction"].reaction.emoji == "\U0001f44d"
    assert messages["reaction_removed"].reaction.emoji is None
    assert messages["reaction_removed"].reaction.message_id.startswith("wamid.")
    assert messages["system_user_changed_number"].system.type == "user_changed_number"
    assert messages["system_user_changed_number"].system.wa_id == "16505550199"
    assert [e.code for e in messages["unsupported"].errors] == [131051]
    referral_text = messages["text_referral_context"]
    assert referral_text.referral["ctwa_clid"] and referral_text.referral["source_type"] == "ad"
    assert referral_text.context.id.startswith("wamid.")


def test_main_message_received_matches_the_stored_webhook():
    """The normalised message and the raw webhook it came from describe the same Meta message."""
    samples = dict(SAMPLES)
    received = Envelope.model_validate(samples["message.received.v1"]).payload()
    webhook = samples["webhook.received.v1"]["data"]
    value = webhook["payload"]["entry"][0]["changes"][0]["value"]
    meta_message = value["messages"][0]
    assert received.wamid == meta_message["id"]
    assert int(received.timestamp.timestamp()) == int(meta_message["timestamp"])
    assert received.text.body == meta_message["text"]["body"]
    assert received.phone_number_id == value["metadata"]["phone_number_id"]
    assert str(received.webhook_id) == webhook["webhook_id"]
    raw = json.dumps(webhook["payload"], separators=(",", ":")).encode()
    assert webhook["size_bytes"] == len(raw)


@pytest.mark.parametrize(("name", "document"), SAMPLES, ids=SAMPLE_IDS)
def test_additive_change_unknown_fields_still_parse(name, document):
    """A newer producer may add fields; an older consumer keeps parsing and ignores them."""
    newer = copy.deepcopy(document)
    newer["data"]["added_in_a_later_minor_release"] = {"anything": [1, 2, 3]}
    original = Envelope.model_validate(document).payload()
    assert Envelope.model_validate(newer).payload() == original


def test_additive_change_inside_nested_objects_still_parses():
    document = copy.deepcopy(dict(SAMPLES)["message.received.v1.interactive_button_reply"])
    document["data"]["interactive"]["button_reply_source"] = "carousel"
    document["data"]["context"]["referred_product"] = {"catalog_id": "1"}
    message = Envelope.model_validate(document).payload()
    assert message.interactive.title == "Confirm order"
    assert message.context.id.startswith("wamid.")


def test_parse_name_rejects_bad_names():
    assert golden.parse_name("conversation.message-added.v1") == ("conversation.message-added", 1, None)
    assert golden.parse_name("message.received.v12.image") == ("message.received", 12, "image")
    with pytest.raises(ValueError, match="is not <type>"):
        golden.parse_name("message.received")
