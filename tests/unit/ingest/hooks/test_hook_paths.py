"""Mapping paths: syntax checked up front, resolved against flat and nested payloads."""

from __future__ import annotations

import pytest

from parley.ingest.hooks.paths import MISSING, Index, Key, PathSyntaxError, explain_missing, parse, resolve


def test_paths_parse_into_fields_and_indexes() -> None:
    assert parse("data.buyer.phone") == (Key("data"), Key("buyer"), Key("phone"))
    assert parse("items[0].sku") == (Key("items"), Index(0), Key("sku"))
    assert parse("items[-1]") == (Key("items"), Index(-1))
    assert parse("customer[phone]") == (Key("customer"), Key("phone"))
    assert parse("meta[utm.source]") == (Key("meta"), Key("utm.source"))
    assert parse("first name") == (Key("first name"),)


@pytest.mark.parametrize(("path", "message"), [
    ("", "`` is empty"),
    ("data..phone", "`data..phone` has an empty field name at character 6"),
    (".phone", "`.phone` starts with `.` at character 1"),
    ("data.", "`data.` ends with `.` at character 5"),
    ("items[0", "`items[0` has an unclosed `[` at character 6"),
    ("items[]", "`items[]` has an empty or nested `[...]` at character 6"),
    ("items[0]sku", "`items[0]sku` has `s` where `.` or `[` was expected at character 9"),
    ("[0].sku", "`[0].sku` starts with `[` at character 1"),
    (" data.phone", "leading or trailing spaces"),
    ("a" * 300, "longer than 256 characters"),
])
def test_bad_paths_say_what_is_wrong_and_where(path: str, message: str) -> None:
    with pytest.raises(PathSyntaxError, match=message.replace("[", r"\[").replace(".", r"\.")):
        parse(path)


NESTED = {"data": {"buyer": {"phone": "+55 11 98765-4321", "name": "Ana"},
                   "items": [{"sku": "A-1"}, {"sku": "B-2"}]}}


def test_nested_payloads_resolve_by_fields_and_indexes() -> None:
    assert resolve(NESTED, parse("data.buyer.name")) == "Ana"
    assert resolve(NESTED, parse("data.items[1].sku")) == "B-2"
    assert resolve(NESTED, parse("data.items[-1].sku")) == "B-2"
    assert resolve(NESTED, parse("data.buyer")) == {"phone": "+55 11 98765-4321", "name": "Ana"}


def test_flat_keys_resolve_literally_before_nesting() -> None:
    flat = {"customer.phone": "5511987654321", "customer": {"phone": "nested"}}
    assert resolve(flat, parse("customer.phone")) == "5511987654321"
    assert resolve({"customer[phone]": "form"}, parse("customer.phone")) == "form"
    assert resolve({"customer[phone]": "form"}, parse("customer[phone]")) == "form"
    assert resolve({"items[0].sku": "flat"}, parse("items[0].sku")) == "flat"
    assert resolve({"data": {"buyer.phone": "mixed"}}, parse("data.buyer.phone")) == "mixed"


def test_a_literal_dead_end_falls_back_to_nesting() -> None:
    payload = {"a.b": {"x": 1}, "a": {"b": {"c": 2}}}
    assert resolve(payload, parse("a.b.c")) == 2


def test_absent_paths_are_missing_not_errors() -> None:
    for path in ("data.buyer.email", "data.items[5].sku", "data.buyer.name.first", "data.items.sku"):
        assert resolve(NESTED, parse(path)) is MISSING
    assert resolve({"data": None}, parse("data.x")) is MISSING


def test_falsy_values_are_found() -> None:
    assert resolve({"a": {"b": 0}}, parse("a.b")) == 0
    assert resolve({"a": None}, parse("a")) is None


def test_missing_paths_are_explained() -> None:
    assert explain_missing(NESTED, parse("data.buyer.email")) == \
        "`data.buyer` has no field `email` (it has: name, phone)"
    assert explain_missing(NESTED, parse("data.items[5].sku")) == \
        "`data.items` has 2 item(s); index 5 is out of range"
    assert explain_missing(NESTED, parse("data.buyer.name.first")) == \
        "`data.buyer.name` is a string, not an object, so it has no field `first`"
    assert explain_missing(NESTED, parse("data[0]")) == \
        "`data` is an object, not a list, so `[0]` does not apply"
