"""Meta's error answers: codes, HTTP statuses and the error shape."""

from __future__ import annotations

import httpx

from parley.sandbox.service import Sandbox
from tests.unit.sandbox.sandbox_harness import AUTH, NUMBER, customer_says, error_of, send

TEXT = {"to": "16505551234", "type": "text", "text": {"body": "Hello"}}


async def test_a_bad_token_is_190_with_http_401(client: httpx.AsyncClient) -> None:
    for headers in ({"Authorization": "Bearer wrong"}, {}):
        response = await send(client, TEXT, headers=headers)
        assert response.status_code == 401
        assert error_of(response)["code"] == 190


async def test_a_number_with_its_own_token_refuses_the_global_one(client: httpx.AsyncClient) -> None:
    registered = await client.post("/sandbox/numbers", json={
        "phone_number_id": "100000000000777", "display_phone_number": "15550100777", "waba_id": "200000000000777",
        "access_token": "number-token"})
    assert registered.status_code == 201
    await customer_says(client, "16505551234", phone_number_id="100000000000777")
    assert (await send(client, TEXT, number="100000000000777")).status_code == 401
    accepted = await send(client, TEXT, number="100000000000777", headers={"Authorization": "Bearer number-token"})
    assert accepted.status_code == 200
    await client.patch("/sandbox/numbers/100000000000777", json={"access_token": "rotated"})
    expired = await send(client, TEXT, number="100000000000777", headers={"Authorization": "Bearer number-token"})
    assert expired.status_code == 401 and error_of(expired)["code"] == 190


async def test_an_unknown_phone_number_id_is_graphs_unknown_object(client: httpx.AsyncClient) -> None:
    response = await send(client, TEXT, number="999999999999")
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["error_subcode"], error["type"]) == (100, 33, "GraphMethodException")


async def test_missing_or_malformed_fields_are_100(client: httpx.AsyncClient) -> None:
    await customer_says(client, "16505551234")
    bad_bodies = [
        {"to": "16505551234", "type": "text"},
        {"to": "16505551234", "type": "text", "text": {"body": ""}},
        {"type": "text", "text": {"body": "no recipient"}},
        {"to": "not-a-number", "type": "text", "text": {"body": "x"}},
        {"to": "16505551234", "type": "carrier_pigeon", "carrier_pigeon": {}},
        {"to": "16505551234", "type": "image", "image": {}},
        {"to": "16505551234", "type": "image", "image": {"id": "1", "link": "https://x.example/a.jpg"}},
        {"to": "16505551234", "type": "image", "image": {"id": "123456"}},  # never uploaded
        {"to": "16505551234", "type": "audio", "audio": {"link": "https://x.example/a.ogg", "caption": "no"}},
        {"to": "16505551234", "type": "template", "template": {"name": "hello_world"}},
        {"to": "16505551234", "type": "reaction", "reaction": {"emoji": "👍"}},
    ]
    for body in bad_bodies:
        response = await send(client, body)
        assert response.status_code == 400, body
        assert error_of(response)["code"] == 100, body
    wrong_product = await client.post(f"/v23.0/{NUMBER}/messages", headers=AUTH, json={**TEXT,
                                                                                      "messaging_product": "sms"})
    assert error_of(wrong_product)["code"] == 100


def buttons(count: int, title: str = "Yes", body: str = "Pick one") -> dict:
    return {"to": "16505551234", "type": "interactive", "interactive": {
        "type": "button", "body": {"text": body},
        "action": {"buttons": [{"type": "reply", "reply": {"id": f"b{i}", "title": f"{title}{i}"}}
                               for i in range(count)]}}}


async def test_interactive_buttons_follow_metas_limits(client: httpx.AsyncClient) -> None:
    await customer_says(client, "16505551234")
    assert (await send(client, buttons(3))).status_code == 200
    for body in (buttons(4), buttons(0), buttons(1, title="x" * 20), buttons(1, body="x" * 1025)):
        response = await send(client, body)
        assert error_of(response)["code"] == 100
    assert (await send(client, buttons(1, title="x" * 19, body="x" * 1024))).status_code == 200


async def test_free_form_outside_the_customer_window_is_131047_and_a_template_is_not(
        client: httpx.AsyncClient, clock) -> None:
    refused = await send(client, TEXT)
    assert error_of(refused)["code"] == 131047
    template = {"to": "16505551234", "type": "template",
                "template": {"name": "hello_world", "language": {"code": "en_US"}}}
    assert (await send(client, template)).status_code == 200
    await customer_says(client, "16505551234")
    assert (await send(client, TEXT)).status_code == 200
    clock.advance(24 * 3600 + 1)
    assert error_of(await send(client, TEXT))["code"] == 131047


async def test_a_recipient_not_on_whatsapp_is_131026_at_request_time(client: httpx.AsyncClient) -> None:
    await client.put("/sandbox/customers/16505559999", json={"on_whatsapp": False})
    template = {"to": "16505559999", "type": "template",
                "template": {"name": "hello_world", "language": {"code": "en_US"}}}
    assert error_of(await send(client, template))["code"] == 131026


async def test_unknown_template_is_132001(client: httpx.AsyncClient) -> None:
    for name, language in (("no_such_template", "en_US"), ("hello_world", "pt_BR")):
        response = await send(client, {"to": "16505551234", "type": "template",
                                       "template": {"name": name, "language": {"code": language}}})
        assert error_of(response)["code"] == 132001


def order_update(*values: str) -> dict:
    return {"to": "16505551234", "type": "template", "template": {
        "name": "order_update", "language": {"code": "en_US"},
        "components": [{"type": "body", "parameters": [{"type": "text", "text": v} for v in values]}]}}


async def test_template_parameter_count_mismatch_is_132000(client: httpx.AsyncClient) -> None:
    assert error_of(await send(client, order_update("Ann")))["code"] == 132000
    assert error_of(await send(client, order_update("Ann", "#1", "extra")))["code"] == 132000
    no_params = {"to": "16505551234", "type": "template",
                 "template": {"name": "order_update", "language": {"code": "en_US"}}}
    assert error_of(await send(client, no_params))["code"] == 132000
    assert (await send(client, order_update("Ann", "#1"))).status_code == 200


async def test_named_parameters_must_match_the_templates_names(client: httpx.AsyncClient, sandbox: Sandbox) -> None:
    def reminder(**values: str) -> dict:
        parameters = [{"type": "text", "parameter_name": k, "text": v} for k, v in values.items()]
        return {"to": "16505551234", "type": "template", "template": {
            "name": "appointment_reminder", "language": {"code": "en_US"},
            "components": [{"type": "body", "parameters": parameters}]}}

    assert error_of(await send(client, reminder(customer_name="Ann", hour="9")))["code"] == 132000
    accepted = await send(client, reminder(date="Monday", customer_name="Ann"))
    assert accepted.status_code == 200
    assert sandbox.store.sends[-1].rendered == "Hi Ann, see you on Monday."


async def test_injected_faults_answer_the_next_sends_with_that_code(client: httpx.AsyncClient) -> None:
    await customer_says(client, "16505551234")
    await client.post(f"/sandbox/numbers/{NUMBER}/faults", json={"code": 131000, "times": 2})
    first, second, third = [await send(client, TEXT) for _ in range(3)]
    assert (first.status_code, error_of(first)["code"]) == (500, 131000)
    assert error_of(second)["code"] == 131000
    assert third.status_code == 200
