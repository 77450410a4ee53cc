"""E-mail over SMTP; the server's acceptance of the recipient is the proof kept."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import make_msgid

import aiosmtplib

from notifier.adapters.base import Outbound, SendResult


class SmtpEmail:
    provider = "smtp"

    def __init__(
        self,
        *,
        host: str,
        port: int,
        sender: str,
        username: str = "",
        password: str = "",
        use_tls: bool = False,
        start_tls: bool = False,
        timeout: float = 10.0,
    ) -> None:
        self._host, self._port, self._sender = host, port, sender
        self._username, self._password = username or None, password or None
        self._use_tls, self._start_tls, self._timeout = use_tls, start_tls, timeout

    async def send(self, message: Outbound) -> SendResult:
        email = EmailMessage()
        email["From"] = self._sender
        email["To"] = message.address
        email["Subject"] = message.subject
        email["Message-ID"] = make_msgid(idstring=message.notification_id, domain="propfee")
        email.set_content(message.body)
        try:
            refused, response = await aiosmtplib.send(
                email,
                hostname=self._host,
                port=self._port,
                username=self._username,
                password=self._password,
                use_tls=self._use_tls,
                start_tls=self._start_tls,
                timeout=self._timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            return SendResult("failed", self.provider, error=f"recipient refused: {exc}")
        except (aiosmtplib.SMTPException, OSError) as exc:
            return SendResult("retry", self.provider, error=f"{type(exc).__name__}: {exc}")
        if refused:
            return SendResult("failed", self.provider, error=f"recipient refused: {refused}")
        message_id = str(email["Message-ID"])
        proof = {"smtp_response": response, "message_id": message_id}
        return SendResult("delivered", self.provider, message_id, proof)
