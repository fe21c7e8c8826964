"""With SMTP configured, invitations are e-mailed (the inviter never sees the token); a failed send creates nothing."""

from __future__ import annotations

import re
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller

from parley.devstack.stack import Platform
from tests.integration.gateway.gateway_harness import assert_error, free_port, sign_up, start_gateway, wait_alive


@dataclass
class Inbox:
    """An SMTP server's mailbox (aiosmtpd handler)."""

    messages: list[Any] = field(default_factory=list)

    async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:  # noqa: N802 - aiosmtpd
        self.messages.append(envelope)
        return "250 OK"


@dataclass
class MailRig:
    inbox: Inbox
    port: int
    gateway_url: str
    controller: Controller | None = None

    def smtp_up(self) -> None:
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def smtp_down(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@pytest.fixture(scope="module")
def mail_rig(running_platform: Platform) -> Iterator[MailRig]:
    """A second gateway on the same platform whose invitations go to our own SMTP server."""
    port = free_port()
    process, url = start_gateway(running_platform, "gateway-smtp", GATEWAY_SMTP_HOST="127.0.0.1",
                                 GATEWAY_SMTP_PORT=str(port), GATEWAY_SMTP_STARTTLS="false",
                                 GATEWAY_INVITATION_ACCEPT_URL="https://app.example.com/join?token=")
    rig = MailRig(Inbox(), port, url)
    try:
        wait_alive(process, url)
        rig.smtp_up()
        yield rig
    finally:
        rig.smtp_down()
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


async def test_the_invitee_gets_the_token_by_email_and_the_inviter_never_sees_it(mail_rig: MailRig) -> None:
    async with httpx.AsyncClient(base_url=mail_rig.gateway_url, timeout=15) as http:
        owner = await sign_up(http)
        email = f"mail-{uuid.uuid4().hex[:8]}@example.com"

        invited = await http.post("/v1/invitations", json={"email": email, "role": "manager"}, headers=owner.headers)

        assert invited.status_code == 201, invited.text
        assert invited.json()["delivery"] == "email" and invited.json()["token"] is None
        [message] = [m for m in mail_rig.inbox.messages if email in m.rcpt_tos]
        text = message_from_bytes(message.content, policy=policy.default).get_content()  # type: ignore[attr-defined]
        token = re.search(r"join\?token=(inv_[A-Za-z0-9_-]+)", text)
        assert token is not None, text
        joined = await http.post("/v1/auth/accept-invitation", json={"token": token.group(1),
                                                                     "password": "mailed-password"})
        assert joined.status_code == 201, joined.text


async def test_an_undeliverable_invitation_is_502_and_holds_no_seat(mail_rig: MailRig) -> None:
    async with httpx.AsyncClient(base_url=mail_rig.gateway_url, timeout=15) as http:
        owner = await sign_up(http)  # free plan: the owner and one more seat
        mail_rig.smtp_down()
        try:
            failed = await http.post("/v1/invitations", json={"email": f"x-{uuid.uuid4().hex[:6]}@example.com"},
                                     headers=owner.headers)
        finally:
            mail_rig.smtp_up()
        sent = await http.post("/v1/invitations", json={"email": f"y-{uuid.uuid4().hex[:6]}@example.com"},
                               headers=owner.headers)

    assert_error(failed, 502, "invitation_not_delivered")
    assert sent.status_code == 201, sent.text  # the failed one did not take the free plan's last seat
