"""Media proxying: a conversation's media fetched from Meta (the sandbox) with the number's token, streamed through."""

from __future__ import annotations

import hashlib
import os
import uuid

import pytest

from parley.kit.auth import Principal
from tests.integration.sender.conftest import Harness, unique_digits

pytestmark = pytest.mark.integration


async def _upload(sender: Harness, number: str, token: str, data: bytes, mime_type: str) -> str:
    """What Meta holds for a media message: bytes behind a media id of the number."""
    response = await sender.sandbox.post(
        f"/v23.0/{number}/media", headers={"Authorization": f"Bearer {token}"},
        data={"messaging_product": "whatsapp", "type": mime_type}, files={"file": ("upload", data, mime_type)})
    assert response.status_code == 200, response.text
    return response.json()["id"]


async def _registered(sender: Harness) -> tuple[str, str]:
    number, token = await sender.sandbox_number()
    created = await sender.client.post("/v1/channels", json={
        "phone_number_id": number, "waba_id": unique_digits("4"), "display_phone_number": "+1 555 0100",
        "access_token": token})
    assert created.status_code == 201, created.text
    return number, token


async def test_an_agent_gets_a_customers_image_and_document_byte_exact(sender: Harness) -> None:
    number, token = await _registered(sender)
    image, document = b"\x89PNG\r\n\x1a\n" + os.urandom(3000), b"%PDF-1.7\n" + os.urandom(70_000)
    image_id = await _upload(sender, number, token, image, "image/png")
    document_id = await _upload(sender, number, token, document, "application/pdf")
    sender.principal = Principal(sender.principal.tenant_id, uuid.uuid4(), "agent")  # agents read media too

    shown = await sender.client.get(f"/v1/channels/{number}/media/{image_id}")
    assert shown.status_code == 200 and shown.content == image
    assert shown.headers["content-type"] == "image/png" and shown.headers["content-disposition"] == "inline"
    assert shown.headers["etag"] == f'"{hashlib.sha256(image).hexdigest()}"'
    assert shown.headers["x-content-type-options"] == "nosniff"
    assert token not in shown.text and "private" in shown.headers["cache-control"]

    saved = await sender.client.get(f"/v1/channels/{number}/media/{document_id}")
    assert saved.status_code == 200 and saved.content == document
    assert saved.headers["content-disposition"] == "attachment", "not rendered by the browser"


async def test_media_of_another_number_tenant_or_an_unknown_id_is_not_found(sender: Harness) -> None:
    number, token = await _registered(sender)
    other, other_token = await _registered(sender)
    media_id = await _upload(sender, other, other_token, b"secret", "image/jpeg")

    for path, code in ((f"/v1/channels/{number}/media/{media_id}", "media_not_found"),  # Meta checks the number
                       (f"/v1/channels/{number}/media/99999999999", "media_not_found"),
                       (f"/v1/channels/15550009999/media/{media_id}", "channel_not_found")):
        response = await sender.client.get(path)
        assert response.status_code == 404 and response.json()["error"]["code"] == code, response.text
        assert b"secret" not in response.content

    malformed = await sender.client.get(f"/v1/channels/{number}/media/..%2F{number}")
    assert malformed.status_code in (404, 422) and malformed.json()["success"] is False
    assert (await sender.client.get(f"/v1/channels/{number}/media/abc")).status_code == 422

    sender.principal = Principal(uuid.uuid4(), uuid.uuid4(), "owner")  # another tenant, with the right ids
    stolen = await sender.client.get(f"/v1/channels/{other}/media/{media_id}")
    assert stolen.status_code == 404 and stolen.json()["error"]["code"] == "channel_not_found"


async def test_a_token_meta_no_longer_accepts_is_a_clear_409(sender: Harness) -> None:
    number, token = await _registered(sender)
    media_id = await _upload(sender, number, token, b"voice", "audio/ogg")
    rotated = await sender.sandbox.patch(f"/sandbox/numbers/{number}",  # the token was revoked at Meta's side
                                         json={"access_token": f"test-token-{uuid.uuid4().hex}"})
    assert rotated.status_code == 200, rotated.text
    response = await sender.client.get(f"/v1/channels/{number}/media/{media_id}")
    assert response.status_code == 409 and response.json()["error"]["code"] == "channel_needs_token"
    assert "access-token" in response.json()["error"]["message"]
