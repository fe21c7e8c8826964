"""The public OpenAPI document: the services' forwarded paths merged in, schema names kept apart."""

from __future__ import annotations

from typing import Any

from parley.gateway.openapi import merge

OWN: dict[str, Any] = {
    "openapi": "3.1.0", "paths": {"/v1/users": {"get": {"responses": {}}}},
    "components": {"schemas": {"ErrorResponse": {"type": "object"}, "Page": {"title": "users page"}}},
}


def upstream(paths: dict[str, Any], schemas: dict[str, Any]) -> dict[str, Any]:
    return {"openapi": "3.1.0", "paths": paths, "components": {"schemas": schemas}}


def test_only_the_prefixes_a_service_owns_are_taken() -> None:
    conversation = upstream({"/v1/conversations": {"get": {"responses": {}}}, "/healthz": {"get": {}},
                             "/v1/hooks": {"get": {}}}, {})

    merged = merge(OWN, {"conversation": conversation})

    assert set(merged["paths"]) == {"/v1/users", "/v1/conversations"}
    operation = merged["paths"]["/v1/conversations"]["get"]
    assert operation["security"] == [{"bearerAuth": []}]
    assert operation["responses"]["429"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorResponse"}


def test_a_clashing_schema_name_is_renamed_with_its_references() -> None:
    ref = {"$ref": "#/components/schemas/Page"}
    sender = upstream({"/v1/channels": {"get": {"responses": {"200": {"content": {"application/json": {
        "schema": ref}}}}}}}, {"Page": {"title": "channels page"}})

    merged = merge(OWN, {"sender": sender})

    assert merged["components"]["schemas"]["Page"] == {"title": "users page"}
    assert merged["components"]["schemas"]["SenderPage"] == {"title": "channels page"}
    schema = merged["paths"]["/v1/channels"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/SenderPage"}


def test_the_own_document_is_left_untouched() -> None:
    merge(OWN, {"conversation": upstream({"/v1/conversations": {"get": {}}}, {"X": {}})})

    assert set(OWN["paths"]) == {"/v1/users"} and "X" not in OWN["components"]["schemas"]
