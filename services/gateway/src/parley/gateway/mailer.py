"""Invitation e-mails over SMTP (aiosmtplib), when ``GATEWAY_SMTP_HOST`` is set."""

from __future__ import annotations

from datetime import datetime
from email.message import EmailMessage

import aiosmtplib

from parley.gateway.settings import GatewaySettings
from parley.kit.errors import DomainError


class InvitationNotDelivered(DomainError):
    code = "invitation_not_delivered"
    status_code = 502


class InvitationMailer:
    def __init__(self, settings: GatewaySettings) -> None:
        self.settings = settings

    @property
    def enabled(self) -> bool:
        return bool(self.settings.smtp_host)

    def compose(self, *, to: str, role: str, token: str, expires_at: datetime) -> EmailMessage:
        message = EmailMessage()
        message["From"], message["To"] = self.settings.smtp_from, to
        message["Subject"] = "You are invited to Parley"
        accept = (f"{self.settings.invitation_accept_url}{token}" if self.settings.invitation_accept_url
                  else f"POST /v1/auth/accept-invitation with the token {token}")
        message.set_content(f"You have been invited to join a Parley workspace as {role}.\n\n"
                            f"Accept: {accept}\n\nThe invitation expires at {expires_at:%Y-%m-%d %H:%M} UTC.\n")
        return message

    async def send(self, *, to: str, role: str, token: str, expires_at: datetime) -> None:
        """Hand the invitation to the SMTP server; InvitationNotDelivered (502) when it refuses or is down."""
        settings = self.settings
        password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
        try:
            await aiosmtplib.send(self.compose(to=to, role=role, token=token, expires_at=expires_at),
                                  hostname=settings.smtp_host, port=settings.smtp_port,
                                  username=settings.smtp_username, password=password,
                                  start_tls=settings.smtp_starttls, timeout=10)
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise InvitationNotDelivered("the invitation e-mail could not be sent; nothing was created",
                                         details={"reason": type(exc).__name__}) from None
