"""Every Meta payload shape becomes the right typed event, with Meta's time and nothing lost."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from parley.contracts.events import accounts
from parley.ingest import normalizer
from parley.ingest.normalizer import AccountNotice, Inbound, Status, Unreadable, normalize, phone_number_ids
from tests.support import meta

CONTACT = [{"profile": {"name": "Sheena Nelson"}, "wa_id": "16505551234"}]


def _one_message(message: dict) -> Inbound:
    [item] = normalize(meta.notification(messages=[message], contacts=CONTACT))
    assert isinstance(item, Inbound)
    return item


def test_text_message_keeps_meta_time_profile_and_ids() -> None:
    item = _one_message(meta.inbound("text", {"body": "Does it come in another color?"}, timestamp=1749416383))
    message = item.message
    assert item.phone_number_id == "106540352242922"
    assert (message.wa_id, message.from_, message.profile_name) == ("16505551234", "16505551234", "Sheena Nelson")
    assert message.text is not None and message.text.body == "Does it come in another color?"
    assert message.timestamp == datetime.fromtimestamp(1749416383, tz=UTC)
    assert message.waba_id == "102290129340398"
    assert message.display_phone_number == "15550783881"


@pytest.mark.parametrize("kind", ["image", "video", "audio", "document", "sticker"])
def test_media_messages_keep_id_mime_sha_caption_and_filename(kind: str) -> None:
    media = {"id": "1479537139650973", "mime_type": "application/pdf", "sha256": "Qg3Z0bEtzY0=",
             "caption": "the invoice", "filename": "invoice.pdf", "voice": kind == "audio",
             "animated": kind == "sticker"}
    message = _one_message(meta.inbound(kind, media)).message
    assert message.type == kind and message.media is not None
    assert message.media.model_dump(exclude_none=True) == media


def test_location_contacts_and_order() -> None:
    location = _one_message(meta.inbound("location", {"latitude": -23.55, "longitude": -46.63, "name": "Paulista",
                                                      "address": "Av. Paulista, 1000"})).message
    assert location.location is not None and location.location.name == "Paulista"
    shared = [{"name": {"formatted_name": "Ana"}, "phones": [{"phone": "+55 11 99999-0000", "wa_id": "5511999990000"}]}]
    contacts = _one_message(meta.inbound("contacts", shared)).message
    assert contacts.contacts == shared
    order = _one_message(meta.inbound("order", {"catalog_id": "42", "text": "please",
                                                "product_items": [{"product_retailer_id": "sku-1", "quantity": 2,
                                                                   "item_price": 10, "currency": "BRL"}]})).message
    assert order.order is not None and order.order.product_items[0]["quantity"] == 2


@pytest.mark.parametrize(("reply", "expected"), [
    ({"type": "button_reply", "button_reply": {"id": "yes", "title": "Yes"}}, ("button_reply", "yes", "Yes")),
    ({"type": "list_reply", "list_reply": {"id": "r2", "title": "Blue", "description": "Navy"}},
     ("list_reply", "r2", "Blue")),
    ({"type": "nfm_reply", "nfm_reply": {"response_json": "{\"flow_token\":\"t\"}", "body": "Sent", "name": "flow"}},
     ("nfm_reply", None, None)),
])
def test_interactive_replies(reply: dict, expected: tuple) -> None:
    message = _one_message(meta.inbound("interactive", reply)).message
    assert message.interactive is not None
    assert (message.interactive.type, message.interactive.reply_id, message.interactive.title) == expected
    if reply["type"] == "nfm_reply":
        assert message.interactive.response_json == "{\"flow_token\":\"t\"}"
        assert message.interactive.flow_name == "flow"


def test_template_quick_reply_button() -> None:
    message = _one_message(meta.inbound("button", {"payload": "STOP_PROMOS", "text": "Stop promotions"})).message
    assert message.button is not None and message.button.payload == "STOP_PROMOS"


def test_reaction_and_its_removal() -> None:
    added = _one_message(meta.inbound("reaction", {"message_id": "wamid.target", "emoji": "❤️"})).message
    removed = _one_message(meta.inbound("reaction", {"message_id": "wamid.target", "emoji": ""})).message
    missing = _one_message(meta.inbound("reaction", {"message_id": "wamid.target"})).message
    assert added.reaction is not None and added.reaction.emoji == "❤️"
    assert removed.reaction is not None and removed.reaction.emoji is None
    assert missing.reaction is not None and missing.reaction.emoji is None


@pytest.mark.parametrize("kind", ["user_changed_number", "customer_identity_changed"])
def test_system_messages(kind: str) -> None:
    message = _one_message(meta.inbound("system", {"body": "changed", "wa_id": "16505550000", "type": kind})).message
    assert message.system is not None and (message.system.type, message.system.wa_id) == (kind, "16505550000")


def test_unsupported_keeps_meta_errors() -> None:
    message = _one_message(meta.inbound("unsupported", None, errors=[{
        "code": 131051, "title": "Message type unknown", "message": "Message type unknown",
        "error_data": {"details": "Message type is currently not supported."}}])).message
    assert message.type == "unsupported"
    assert [(e.code, e.details) for e in message.errors] == [(131051, "Message type is currently not supported.")]


def test_reply_context_forwarded_flags_and_ad_referral_are_kept() -> None:
    referral = {"source_url": "https://fb.me/ad", "source_id": "120", "source_type": "ad", "ctwa_clid": "ARAk"}
    reply = _one_message(meta.inbound("text", {"body": "this one"}, context={"from": "15550783881",
                                                                            "id": "wamid.original"},
                                      referral=referral)).message
    assert reply.context is not None and reply.context.id == "wamid.original" and reply.context.from_ == "15550783881"
    assert reply.referral == referral
    forwarded = _one_message(meta.inbound("text", {"body": "fwd"},
                                          context={"forwarded": True, "frequently_forwarded": True})).message
    assert forwarded.context is not None and forwarded.context.frequently_forwarded is True


def test_contact_wa_id_may_differ_from_sender() -> None:
    [item] = normalize(meta.notification(messages=[meta.inbound("text", {"body": "hi"}, sender="16505551234")],
                                         contacts=[{"profile": {"name": "Sheena"}, "wa_id": "16505559999"}]))
    assert isinstance(item, Inbound) and (item.message.wa_id, item.message.from_) == ("16505559999", "16505551234")


@pytest.mark.parametrize("value", ["sent", "delivered", "read", "played"])
def test_statuses_keep_conversation_and_pricing(value: str) -> None:
    raw = meta.status("wamid.out", value, conversation={"id": "c1", "origin": {"type": "service"}},
                      pricing={"billable": True, "pricing_model": "PMP", "category": "service"})
    [item] = normalize(meta.notification(statuses=[raw]))
    assert isinstance(item, Status)
    assert (item.status.status, item.status.wamid, item.status.recipient_id) == (value, "wamid.out", "16505551234")
    assert item.status.conversation == {"id": "c1", "origin": {"type": "service"}}
    assert item.status.pricing is not None and item.status.pricing["pricing_model"] == "PMP"
    assert item.status.timestamp == datetime.fromtimestamp(1749416400, tz=UTC)


def test_failed_status_carries_meta_error_code_title_and_details() -> None:
    raw = meta.status("wamid.out", "failed", errors=[{"code": 131047, "title": "Re-engagement message",
                                                      "message": "Re-engagement message",
                                                      "error_data": {"details": "More than 24 hours have passed"}}])
    [item] = normalize(meta.notification(statuses=[raw]))
    assert isinstance(item, Status)
    [error] = item.status.errors
    assert (error.code, error.title) == (131047, "Re-engagement message")
    assert error.details == "More than 24 hours have passed"


def test_a_batch_yields_every_entry_change_message_and_status_in_order() -> None:
    first = meta.notification("111", messages=[meta.inbound("text", {"body": "a"}),
                                               meta.inbound("text", {"body": "b"})], contacts=CONTACT)
    second = meta.notification("222", statuses=[meta.status("wamid.x", "read")],
                               messages=[meta.inbound("text", {"body": "c"})], contacts=CONTACT)
    payload = {"object": "whatsapp_business_account", "entry": first["entry"] + second["entry"]}
    items = normalize(payload)
    assert [type(i).__name__ for i in items] == ["Inbound", "Inbound", "Inbound", "Status"]
    assert [i.phone_number_id for i in items] == ["111", "111", "222", "222"]
    assert phone_number_ids(payload) == ["111", "222"]


def test_value_level_errors_become_an_event_for_the_number() -> None:
    items = normalize(meta.notification(errors=[{"code": 130429, "title": "Rate limit hit",
                                                 "error_data": {"details": "throughput reached"}}]))
    [notice] = items
    assert isinstance(notice, AccountNotice) and isinstance(notice.payload, accounts.ErrorsReported)
    assert notice.payload.phone_number_id == "106540352242922" and notice.payload.errors[0].code == 130429


@pytest.mark.parametrize(("field", "value", "model"), [
    ("message_template_status_update", {"event": "APPROVED", "message_template_id": 1689556908129832,
                                        "message_template_name": "order_update",
                                        "message_template_language": "en_US", "reason": "NONE"},
     accounts.TemplateStatusUpdated),
    ("message_template_quality_update", {"previous_quality_score": "GREEN", "new_quality_score": "YELLOW",
                                         "message_template_id": 1, "message_template_name": "promo",
                                         "message_template_language": "pt_BR"}, accounts.TemplateQualityUpdated),
    ("phone_number_quality_update", {"display_phone_number": "15550783881", "event": "FLAGGED",
                                     "current_limit": "TIER_1K"}, accounts.PhoneNumberQualityUpdated),
    ("account_update", {"event": "ACCOUNT_VIOLATION", "violation_info": {"violation_type": "SCAM"}},
     accounts.AccountUpdated),
    ("business_capability_update", {"max_daily_conversation_per_phone": 1000}, accounts.FieldReceived),
])
def test_account_fields_become_typed_events(field: str, value: dict, model: type) -> None:
    [notice] = normalize(meta.account_notification(field, value))
    assert isinstance(notice, AccountNotice) and isinstance(notice.payload, model)
    assert notice.waba_id == "102290129340398"
    if model is accounts.FieldReceived:
        assert (notice.payload.field, notice.payload.value) == (field, value)


def test_a_duplicate_account_notice_has_the_same_dedup_key_but_a_later_one_does_not() -> None:
    value = {"event": "APPROVED", "message_template_id": 1, "message_template_name": "x",
             "message_template_language": "en"}
    [first] = normalize(meta.account_notification("message_template_status_update", value, time=1))
    [again] = normalize(meta.account_notification("message_template_status_update", value, time=1))
    [later] = normalize(meta.account_notification("message_template_status_update", value, time=2))
    assert isinstance(first, AccountNotice) and isinstance(again, AccountNotice) and isinstance(later, AccountNotice)
    assert first.key == again.key != later.key


@pytest.mark.parametrize("payload", [
    None, [], {"object": "page", "entry": []}, {"object": "whatsapp_business_account"},
    {"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages",
                                                                                "value": {"messages": []}}]}]},
    meta.notification(messages=[meta.inbound("text", {"body": "x"}, timestamp="soon")]),
    meta.notification(messages=[{"from": "1", "timestamp": "1", "type": "text"}]),
])
def test_unreadable_payloads_are_refused_for_quarantine(payload: object) -> None:
    with pytest.raises(Unreadable):
        normalizer.normalize(payload)
