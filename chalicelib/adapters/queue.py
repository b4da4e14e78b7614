"""An SQS queue our own workers read: the generation queue, the exports queue."""

from __future__ import annotations

import json
from typing import Any

from chalicelib import aws


class MessageQueue:
    def __init__(self, url: str, client: Any | None = None) -> None:
        self._url = url
        self._client = client

    def send(self, body: dict[str, Any], delay_seconds: int = 0) -> None:
        client = self._client or aws.sqs()
        # SQS caps a message's delay at 15 minutes.
        client.send_message(
            QueueUrl=self._url, MessageBody=json.dumps(body), DelaySeconds=min(delay_seconds, 900)
        )
