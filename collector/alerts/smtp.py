"""E-mail alerts over SMTP (smtplib): STARTTLS with a verified certificate before any login."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from typing import Any

from collector.alerts.config import SmtpSettings
from collector.alerts.digest import subject, text
from collector.alerts.sinks import DeliveryError


def message(settings: SmtpSettings, document: dict[str, Any]) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = settings.sender
    msg["To"] = ", ".join(settings.to)
    msg["Subject"] = " ".join(subject(document).split())[:200]
    msg.set_content(text(document))
    return msg


class SmtpSink:
    name = "smtp"
    rate_limited = True

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        self._context = ssl.create_default_context(cafile=settings.ca_file)

    def deliver(self, document: dict[str, Any]) -> None:
        s = self.settings
        try:
            with smtplib.SMTP(s.host, s.port, timeout=s.timeout_s) as smtp:
                smtp.ehlo()
                if s.starttls:
                    smtp.starttls(context=self._context)
                    smtp.ehlo()
                if s.username is not None and s.password is not None:
                    smtp.login(s.username, s.password)
                smtp.send_message(message(s, document))
        except (smtplib.SMTPException, OSError, ssl.SSLError) as exc:
            raise DeliveryError(f"smtp: {exc}") from exc
