"""Media upload and retrieval, number details, the registry of numbers and templates."""

from __future__ import annotations

import hashlib

import httpx

from tests.unit.sandbox.sandbox_harness import AUTH, NUMBER, customer_says, error_of, send


async def upload(client: httpx.AsyncClient, data: bytes, mime_type: str, product: str = "whatsapp") -> httpx.Response:
    return await client.post(f"/v23.0/{NUMBER}/media", headers=AUTH, files={
        "file": ("photo.jpg", data, mime_type), "messaging_product": (None, product), "type": (None, mime_type)})


async def test_uploaded_media_can_be_described_downloaded_sent_and_deleted(client: httpx.AsyncClient) -> None:
    data = b"\xff\xd8\xff jpeg bytes"
    media_id = (await upload(client, data, "image/jpeg")).json()["id"]
    info = (await client.get(f"/v23.0/{media_id}", headers=AUTH)).json()
    assert info == {"messaging_product": "whatsapp", "url": info["url"], "mime_type": "image/jpeg",
                    "sha256": hashlib.sha256(data).hexdigest(), "file_size": len(data), "id": media_id}
    assert (await client.get(info["url"])).status_code == 401  # like Meta: the download needs the token
    assert (await client.get(info["url"], headers=AUTH)).content == data
    await customer_says(client, "16505551234")
    sent = await send(client, {"to": "16505551234", "type": "image", "image": {"id": media_id}})
    assert sent.status_code == 200
    assert (await client.delete(f"/v23.0/{media_id}", headers=AUTH)).json() == {"success": True}
    assert (await client.get(f"/v23.0/{media_id}", headers=AUTH)).json()["error"]["code"] == 100


async def test_media_asked_for_with_another_phone_number_id_is_not_handed_over(client: httpx.AsyncClient) -> None:
    other = await client.post("/sandbox/numbers", json={
        "phone_number_id": "100000000000778", "display_phone_number": "15550100778", "waba_id": "200000000000778"})
    assert other.status_code == 201
    media_id = (await upload(client, b"\xff\xd8\xff mine", "image/jpeg")).json()["id"]
    own = await client.get(f"/v23.0/{media_id}", headers=AUTH, params={"phone_number_id": NUMBER})
    assert own.status_code == 200 and own.json()["id"] == media_id
    wrong = await client.get(f"/v23.0/{media_id}", headers=AUTH, params={"phone_number_id": "100000000000778"})
    error = wrong.json()["error"]
    assert wrong.status_code == 400 and (error["code"], error["error_subcode"]) == (100, 33)
    assert "url" not in wrong.text


async def test_uploads_are_checked(client: httpx.AsyncClient) -> None:
    assert error_of(await upload(client, b"x", "image/jpeg", product="sms"))["code"] == 100
    too_big = await upload(client, b"x" * (5 * 2**20 + 1), "image/png")
    assert error_of(too_big)["code"] == 131053
    not_multipart = await client.post(f"/v23.0/{NUMBER}/media", headers=AUTH, json={"file": "x"})
    assert error_of(not_multipart)["code"] == 100


async def test_number_details_like_graph(client: httpx.AsyncClient) -> None:
    details = (await client.get(f"/v23.0/{NUMBER}", headers=AUTH)).json()
    assert details["id"] == NUMBER
    assert details["display_phone_number"] == "+1 555-010-0001"
    assert details["quality_rating"] == "GREEN"
    assert details["throughput"] == {"level": "STANDARD"}
    assert details["verified_name"] == "Parley Demo"
    some = (await client.get(f"/v23.0/{NUMBER}", headers=AUTH, params={"fields": "quality_rating"})).json()
    assert some == {"quality_rating": "GREEN", "id": NUMBER}
    await client.patch(f"/sandbox/numbers/{NUMBER}", json={"throughput": 1000, "quality_rating": "YELLOW"})
    upgraded = (await client.get(f"/v23.0/{NUMBER}", headers=AUTH)).json()
    assert (upgraded["throughput"], upgraded["quality_rating"]) == ({"level": "HIGH"}, "YELLOW")


async def test_a_bad_version_segment_is_unknown_path(client: httpx.AsyncClient) -> None:
    response = await client.get(f"/latest/{NUMBER}", headers=AUTH)
    assert error_of(response)["code"] == 2500


async def test_registered_templates_are_checked_like_the_seeded_ones(client: httpx.AsyncClient) -> None:
    created = await client.post("/sandbox/templates", json={
        "name": "delivery_window", "language": "de_DE", "category": "UTILITY",
        "components": [{"type": "HEADER", "format": "IMAGE"}, {"type": "BODY", "text": "Lieferung {{1}}"},
                       {"type": "BUTTONS", "buttons": [{"type": "URL", "text": "Track", "url": "https://t.example/{{1}}"}]}]})
    assert created.status_code == 201
    assert (await client.post("/sandbox/templates", json={"name": "Bad Name", "language": "en"})).status_code == 400

    def components(header: bool, button: bool) -> list[dict]:
        parts = [{"type": "body", "parameters": [{"type": "text", "text": "morgen"}]}]
        if header:
            parts.append({"type": "header", "parameters": [{"type": "image", "image": {"link": "https://x/a.jpg"}}]})
        if button:
            parts.append({"type": "button", "sub_type": "url", "index": "0",
                          "parameters": [{"type": "text", "text": "abc"}]})
        return parts

    def template(header: bool, button: bool) -> dict:
        return {"to": "4915112345678", "type": "template", "template": {
            "name": "delivery_window", "language": {"code": "de_DE"}, "components": components(header, button)}}

    assert error_of(await send(client, template(False, True)))["code"] == 132000
    assert error_of(await send(client, template(True, False)))["code"] == 132000
    assert (await send(client, template(True, True))).status_code == 200
    listed = (await client.get("/sandbox/templates")).json()["templates"]
    assert {"hello_world", "order_update", "delivery_window"} <= {t["name"] for t in listed}


async def test_numbers_are_registered_through_the_admin_api(client: httpx.AsyncClient) -> None:
    response = await client.post("/sandbox/numbers", json={
        "phone_number_id": "100000000000002", "display_phone_number": "15550100002", "waba_id": "200000000000001",
        "throughput": 20})
    assert response.status_code == 201 and response.json()["throughput"] == 20
    numbers = (await client.get("/sandbox/numbers")).json()["numbers"]
    assert {n["phone_number_id"] for n in numbers} == {NUMBER, "100000000000002"}
    invalid = await client.post("/sandbox/numbers", json={"phone_number_id": "abc"})
    assert invalid.status_code == 422 and invalid.json()["success"] is False
    await client.post("/sandbox/reset", params={"registry": "true"})
    assert len((await client.get("/sandbox/numbers")).json()["numbers"]) == 1
