"""Valid JSON text that Postgres cannot store (NUL, lone surrogates) is the client's error (422), not a 500."""

import asyncpg
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.exc import DBAPIError

from parley.kit.errors import install_error_handlers


def _app(error: Exception) -> TestClient:
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/things")
    async def create() -> None:
        raise error

    return TestClient(app, raise_server_exceptions=False)


def test_a_nul_character_refused_by_postgres_is_a_422_in_the_standard_shape():
    refused = asyncpg.exceptions.CharacterNotInRepertoireError('invalid byte sequence for encoding "UTF8": 0x00')
    wrapped = DBAPIError("INSERT INTO things ...", {}, refused)
    response = _app(wrapped).post("/things")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_text" and response.json()["success"] is False


def test_an_unpaired_surrogate_is_a_422():
    try:
        "\ud94c".encode()
    except UnicodeEncodeError as exc:
        error = exc
    assert _app(error).post("/things").status_code == 422


def test_any_other_failure_stays_a_500_without_details():
    response = _app(RuntimeError("boom")).post("/things")
    assert response.status_code == 500 and response.json()["error"] == {
        "code": "internal_error", "message": "an unexpected error occurred", "details": None}


def test_an_unexpected_error_is_answered_without_escaping_the_app():
    """Escaping exceptions make uvicorn close the keep-alive connection, failing the gateway's next request on it."""
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/things")
    async def create() -> None:
        raise RuntimeError("boom")

    response = TestClient(app, raise_server_exceptions=True).post("/things")  # would raise if it escaped
    assert response.status_code == 500 and response.json()["error"]["code"] == "internal_error"
