"""Outgoing mail through SES. Plain text: it renders everywhere and carries no trackers."""

from __future__ import annotations

from typing import Any

from chalicelib import aws


class Mailer:
    def __init__(self, sender: str, client: Any | None = None) -> None:
        self._sender = sender
        self._client = client

    def send(self, to: str, subject: str, text: str) -> None:
        (self._client or aws.ses()).send_email(
            Source=self._sender,
            Destination={"ToAddresses": [to]},
            Message={
                "Subject": {"Data": subject, "Charset": "UTF-8"},
                "Body": {"Text": {"Data": text, "Charset": "UTF-8"}},
            },
        )
