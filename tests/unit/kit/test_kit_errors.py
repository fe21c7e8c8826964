"""Every API error, domain or framework, renders in the one shape clients rely on."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from parley.kit.errors import Conflict, DomainError, NotFound, install_error_handlers


def _app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/contacts/{contact_id}")
    async def get_contact(contact_id: int) -> dict[str, int]:
        raise NotFound(f"contact {contact_id} does not exist", details={"contact_id": contact_id})

    @app.post("/contacts")
    async def create_contact() -> None:
        raise Conflict("a contact with this wa_id exists", code="contact_exists")

    @app.post("/campaigns/{campaign_id}/launch")
    async def launch(campaign_id: str) -> None:
        raise DomainError("the audience is empty", code="audience_empty", status_code=422)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals")

    return app


@pytest.fixture(scope="module")
def client() -> TestClient:
    return TestClient(_app(), raise_server_exceptions=False)


def test_domain_error_renders_its_code_status_and_details(client: TestClient) -> None:
    response = client.get("/contacts/7")

    assert response.status_code == 404
    assert response.json() == {"success": False, "error": {
        "code": "not_found", "message": "contact 7 does not exist", "details": {"contact_id": 7}}}


def test_domain_error_code_and_status_can_be_overridden(client: TestClient) -> None:
    conflict, custom = client.post("/contacts"), client.post("/campaigns/c1/launch")

    assert (conflict.status_code, conflict.json()["error"]["code"]) == (409, "contact_exists")
    assert custom.status_code == 422
    assert custom.json() == {"success": False, "error": {
        "code": "audience_empty", "message": "the audience is empty", "details": None}}


def test_invalid_request_is_a_422_listing_the_bad_fields(client: TestClient) -> None:
    response = client.get("/contacts/not-a-number")

    assert response.status_code == 422
    body = response.json()
    assert body["success"] is False
    assert body["error"]["code"] == "validation_error"
    [problem] = body["error"]["details"]
    assert problem["loc"] == ["path", "contact_id"]
    assert problem["type"] == "int_parsing"


def test_unknown_route_is_a_404_in_the_same_shape(client: TestClient) -> None:
    response = client.get("/nowhere")

    assert response.status_code == 404
    assert response.json() == {"success": False, "error": {"code": "not_found", "message": "Not Found",
                                                            "details": None}}


def test_wrong_method_is_a_405_in_the_same_shape(client: TestClient) -> None:
    response = client.delete("/contacts")

    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_unexpected_error_hides_internals(client: TestClient) -> None:
    response = client.get("/boom")

    assert response.status_code == 500
    assert response.json() == {"success": False, "error": {
        "code": "internal_error", "message": "an unexpected error occurred", "details": None}}
    assert "secret internals" not in response.text
