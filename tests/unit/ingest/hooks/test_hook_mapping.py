"""A hook's mapping turns a payload (JSON or form) into a business event with phone and variables."""

from __future__ import annotations

import pytest

from parley.ingest.hooks import mapping
from parley.ingest.hooks.payloads import parse_body, try_parse
from parley.ingest.normalizer import Unreadable

HOTMART = {
    "event": "PURCHASE_APPROVED",
    "data": {"buyer": {"name": "Ana Souza", "checkout_phone": "11987654321"},
             "product": {"name": "Curso de Inglês"}, "purchase": {"price": {"value": 197.0}},
             "items": [{"sku": "ING-01"}]},
}
MAPPING = {"phone": "data.buyer.checkout_phone", "event_path": None,
           "variables": {"buyer_name": "data.buyer.name", "product": "data.product.name",
                         "amount": "data.purchase.price.value", "sku": "data.items[0].sku"}}


def test_nested_json_maps_to_the_hook_event_with_phone_and_variables() -> None:
    mapped = mapping.apply(MAPPING, HOTMART, default_event="purchase.approved", default_region="BR")
    assert mapped.event == "purchase.approved"
    assert mapped.phone == "5511987654321"
    assert mapped.variables == {"buyer_name": "Ana Souza", "product": "Curso de Inglês", "amount": 197.0,
                                "sku": "ING-01"}


def test_event_name_can_come_from_the_payload() -> None:
    mapped = mapping.apply({**MAPPING, "event_path": "event"}, HOTMART, default_event="purchase.approved",
                           default_region=None)
    assert mapped.event == "PURCHASE_APPROVED"
    absent = mapping.apply({**MAPPING, "event_path": "type"}, HOTMART, default_event="purchase.approved",
                           default_region=None)
    assert absent.event == "purchase.approved"


def test_flat_form_bodies_map_by_their_literal_keys() -> None:
    body = b"customer.phone=%2B55+21+99876-5432&customer%5Bname%5D=Bruno&tags=a&tags=b&pix_code="
    payload = parse_body(body, "application/x-www-form-urlencoded; charset=utf-8")
    assert payload == {"customer.phone": "+55 21 99876-5432", "customer[name]": "Bruno", "tags": ["a", "b"],
                       "pix_code": ""}
    mapped = mapping.apply({"phone": "customer.phone", "variables": {"name": "customer.name", "tags": "tags",
                                                                    "first_tag": "tags[0]", "pix": "pix_code"}},
                           payload, default_event="pix.generated", default_region=None)
    assert mapped.phone == "5521998765432"
    assert mapped.variables == {"name": "Bruno", "tags": ["a", "b"], "first_tag": "a", "pix": ""}


def test_absent_phone_and_variables_are_none_not_failures() -> None:
    mapped = mapping.apply({"phone": "lead.phone", "variables": {"email": "lead.email"}}, {"lead": {}},
                           default_event="lead.created", default_region=None)
    assert mapped.phone is None and mapped.variables == {"email": None}


@pytest.mark.parametrize(("raw", "region", "expected"), [
    ("+55 (11) 98765-4321", None, "5511987654321"),
    ("5511987654321", None, "5511987654321"),
    ("(11) 98765-4321", "BR", "5511987654321"),
    ("5511987654321", "BR", "5511987654321"),
    ("0044 20 7946 0958", None, "442079460958"),
    (5511987654321, None, "5511987654321"),
    (5511987654321.0, None, "5511987654321"),
    (["", "+1 650-253-0000"], None, "16502530000"),
    ("98765-4321", None, "987654321"),  # no region to infer: the digits are kept as they are
    ("no phone", None, None),
    ({"number": "1"}, None, None),
    (True, None, None),
])
def test_phones_are_normalized_to_e164_digits(raw: object, region: str | None, expected: str | None) -> None:
    assert mapping.normalize_phone(raw, region) == expected


def test_mapping_syntax_problems_name_the_field_and_path() -> None:
    problems = mapping.check_syntax({"phone": "data..phone", "event_path": None,
                                     "variables": {"amount": "items[0", "1st": "a", "ok": "data.ok"}})
    assert [str(p) for p in problems] == [
        "mapping.variables.1st: `1st` is not a valid variable name (letters, digits and _, not starting with a "
        "digit, at most 64 characters)",
        "mapping.phone: `data..phone` has an empty field name at character 6 (write paths like `data.buyer.phone` "
        "or `items[0].sku`)",
        "mapping.variables.amount: `items[0` has an unclosed `[` at character 6 (write paths like "
        "`data.buyer.phone` or `items[0].sku`)",
    ]
    assert mapping.check_syntax(MAPPING) == []


def test_sample_payloads_report_the_paths_that_do_not_resolve() -> None:
    problems = mapping.check_sample({"phone": "data.buyer.phone", "event_path": "data",
                                     "variables": {"product": "data.product.title", "sku": "data.items[0].sku"}},
                                    HOTMART)
    assert [(p.field, p.path) for p in problems] == [
        ("mapping.phone", "data.buyer.phone"), ("mapping.event_path", "data"),
        ("mapping.variables.product", "data.product.title")]
    assert "`data.buyer` has no field `phone` (it has: checkout_phone, name)" in problems[0].problem
    assert "must give a text event name" in problems[1].problem


@pytest.mark.parametrize(("body", "content_type", "reason"), [
    (b"[1, 2]", "application/json", "the JSON body is list, not an object"),
    (b"{not json", "application/json", "not valid JSON"),
    (b"", "application/json", "empty"),
    (b"\xff\xfe", "application/json", "not valid utf-8"),
    (b"<xml/>", "application/xml", "unsupported content type application/xml"),
])
def test_unreadable_bodies_say_why(body: bytes, content_type: str, reason: str) -> None:
    with pytest.raises(Unreadable, match=reason):
        parse_body(body, content_type)
    assert try_parse(body, content_type) is None


def test_bodies_without_a_content_type_are_read_as_json_then_form() -> None:
    assert parse_body(b'{"a": {"b": 1}}', None) == {"a": {"b": 1}}
    assert parse_body(b"a=1&b=2", None) == {"a": "1", "b": "2"}
    assert parse_body(b'{"a": 1}', "text/plain") == {"a": 1}
    assert parse_body(b'{"a": 1}', "application/vnd.api+json") == {"a": 1}
    assert parse_body("nome=João".encode("latin-1"), "application/x-www-form-urlencoded; charset=latin-1") == \
        {"nome": "João"}
