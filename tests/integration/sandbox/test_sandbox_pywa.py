"""The real Cloud API client ``pywa``, pointed at the sandbox process, sends like it would to Meta."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from pywa import WhatsApp
from pywa.errors import ReEngagementMessage, TemplateNotExists
from pywa.types.templates import BodyText, TemplateLanguage

from tests.integration.sandbox.sandbox_process import NUMBER, TOKEN, SandboxProcess

pytestmark = pytest.mark.integration

CUSTOMER = "16505551234"


class SandboxTransport(httpx.HTTPTransport):
    """Sends what a client addresses to graph.facebook.com to the sandbox instead."""

    def __init__(self, sandbox_url: str) -> None:
        super().__init__()
        self._target = httpx.URL(sandbox_url)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.host == "graph.facebook.com":
            request.url = request.url.copy_with(scheme=self._target.scheme, host=self._target.host,
                                                port=self._target.port)
            request.headers["Host"] = self._target.netloc.decode()
        return super().handle_request(request)


@pytest.fixture
def wa(sandbox: httpx.Client, sandbox_process: SandboxProcess) -> Iterator[WhatsApp]:
    """pywa unchanged, given an httpx session whose transport reroutes graph.facebook.com."""
    with httpx.Client(transport=SandboxTransport(sandbox_process.url), timeout=10) as session:
        yield WhatsApp(phone_id=NUMBER, token=TOKEN, session=session, api_version="23.0")


def test_pywa_sends_text_templates_and_media_through_the_sandbox(wa: WhatsApp, sandbox: httpx.Client) -> None:
    with pytest.raises(ReEngagementMessage):
        wa.send_message(to=CUSTOMER, text="outside the window")
    inbound = sandbox.post(f"/sandbox/customers/{CUSTOMER}/messages",
                           json={"type": "text", "text": {"body": "hi"}}).json()["wamid"]

    text = wa.send_message(to=CUSTOMER, text="Hello from pywa", reply_to_message_id=inbound)
    positional = wa.send_template(to=CUSTOMER, name="order_update", language=TemplateLanguage.ENGLISH_US,
                                  params=[BodyText.params("Ann", "#1001")])
    named = wa.send_template(to=CUSTOMER, name="appointment_reminder", language=TemplateLanguage.ENGLISH_US,
                             params=[BodyText.params(customer_name="Ann", date="Monday")])
    with pytest.raises(TemplateNotExists):
        wa.send_template(to=CUSTOMER, name="no_such_template", language=TemplateLanguage.ENGLISH_US)
    media = wa.upload_media(media=b"\x89PNG\r\n\x1a\n fake", mime_type="image/png", filename="logo.png")
    uploaded = wa.send_image(to=CUSTOMER, image=media.id, caption="Our logo")
    linked = wa.send_document(to=CUSTOMER, document="https://cdn.example/menu.pdf", filename="menu.pdf")
    assert wa.mark_message_as_read(message_id=inbound)
    assert wa.get_business_phone_number().display_phone_number == "+1 555-010-0001"
    assert wa.get_media_url(media.id).sha256

    sends = {s["wamid"]: s for s in sandbox.get("/sandbox/sends").json()["sends"]}
    assert [sends[m.id]["type"] for m in (text, positional, named, uploaded, linked)] == [
        "text", "template", "template", "image", "document"]
    assert sends[text.id]["payload"]["context"] == {"message_id": inbound}
    assert sends[positional.id]["rendered"] == "Hi Ann, your order #1001 has shipped."
    assert sends[named.id]["rendered"] == "Hi Ann, see you on Monday."
    assert sends[uploaded.id]["payload"]["image"]["id"] == media.id
