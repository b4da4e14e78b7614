"""The local event pump: what Lambda's event sources do on AWS, done on this machine.

`chalice local` serves HTTP only. The pump reads the app's own declarations
(`app.event_sources`) and feeds each handler as AWS would:

- SQS consumers get the messages of their queue, in Lambda's event shape. A handler that
  raises leaves its message in the queue; SQS (moto) makes it visible again after the
  visibility timeout and moves it to the dead-letter queue after the redrive policy's
  maxReceiveCount, exactly as on AWS. A returned `batchItemFailures` keeps just those.
- Schedules run on their Rate, the first run one interval after start, as EventBridge does.
- EventBridge rules (`on_cw_event`, bucket events among them) are real rules in the
  embedded EventBridge, matched by it, whose target is a local queue the pump drains.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chalice.app import (
    Chalice,
    CloudWatchEventConfig,
    Rate,
    ScheduledEventConfig,
    SQSEventConfig,
)
from chalice.local import LambdaContext

from chalicelib import aws

log = logging.getLogger("aisora.pump")

_RATE_SECONDS = {Rate.MINUTES: 60, Rate.HOURS: 3600, Rate.DAYS: 86400}


@dataclass
class _QueueSource:
    handler: str
    queue_url: str
    queue_arn: str
    batch_size: int
    # Rule-fed queues carry EventBridge events, delivered to the handler one by one.
    eventbridge: bool = False


@dataclass
class _Schedule:
    handler: str
    interval: float
    next_run: float = field(default=0.0)


def _interval(expression: Any) -> float:
    if isinstance(expression, Rate):
        return float(expression.value * _RATE_SECONDS[expression.unit])
    raise ValueError(f"the local pump runs Rate schedules only, not {expression!r}")


class EventPump:
    def __init__(self, app: Chalice, prefix: str, clock: Callable[[], float] = time.monotonic) -> None:
        self._app = app
        self._clock = clock
        self._sqs = aws.sqs()
        self.queues: list[_QueueSource] = []
        self.schedules: list[_Schedule] = []
        start = clock()
        for source in app.event_sources:
            if isinstance(source, SQSEventConfig):
                self.queues.append(self._sqs_source(source))
            elif isinstance(source, ScheduledEventConfig):
                interval = _interval(source.schedule_expression)
                self.schedules.append(_Schedule(source.name, interval, start + interval))
            elif isinstance(source, CloudWatchEventConfig):
                self.queues.append(self._rule_source(source, prefix))
            else:
                raise ValueError(f"the local pump cannot feed {type(source).__name__} ({source.name})")

    def _queue(self, name: str) -> tuple[str, str]:
        url = self._sqs.get_queue_url(QueueName=name)["QueueUrl"]
        arn = self._sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        return url, arn["Attributes"]["QueueArn"]

    def _sqs_source(self, source: SQSEventConfig) -> _QueueSource:
        name = source.queue or str(source.queue_arn).rsplit(":", 1)[-1]
        url, arn = self._queue(name)
        return _QueueSource(source.name, url, arn, source.batch_size)

    def _rule_source(self, source: CloudWatchEventConfig, prefix: str) -> _QueueSource:
        # On AWS the rule's target is the function; here it is a queue the pump drains.
        name = f"{prefix}-local-rule-{source.name}".replace("_", "-")
        url = self._sqs.create_queue(QueueName=name)["QueueUrl"]
        _, arn = self._queue(name)
        events = aws.events()
        events.put_rule(Name=name, EventPattern=json.dumps(source.event_pattern), State="ENABLED")
        events.put_targets(Rule=name, Targets=[{"Id": "local-pump", "Arn": arn}])
        return _QueueSource(source.name, url, arn, 1, eventbridge=True)

    # --- delivering -----------------------------------------------------------------------

    def _invoke(self, handler: str, event: dict[str, Any]) -> Any:
        context = LambdaContext(handler, memory_size=512, max_runtime_ms=900_000)
        return self._app.handler_map[handler](event, context)

    def pump_queues(self) -> int:
        """One receive from every queue; returns how many messages were handled."""
        handled = 0
        for source in self.queues:
            response = self._sqs.receive_message(
                QueueUrl=source.queue_url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=0,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
            messages = response.get("Messages", [])
            for start in range(0, len(messages), source.batch_size):
                handled += self._deliver(source, messages[start : start + source.batch_size])
        return handled

    def _deliver(self, source: _QueueSource, messages: list[dict[str, Any]]) -> int:
        if source.eventbridge:
            event = json.loads(messages[0]["Body"])
        else:
            event = {"Records": [self._record(source, m) for m in messages]}
        try:
            result = self._invoke(source.handler, event)
        except Exception:
            log.exception("%s failed; the message returns after its visibility timeout", source.handler)
            return len(messages)
        failed = set()
        if isinstance(result, dict):
            failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
        done = [m for m in messages if m["MessageId"] not in failed]
        if done:
            self._sqs.delete_message_batch(
                QueueUrl=source.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
            )
        return len(messages)

    def _record(self, source: _QueueSource, message: dict[str, Any]) -> dict[str, Any]:
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": message.get("Attributes", {}),
            "messageAttributes": message.get("MessageAttributes", {}),
            "md5OfBody": message.get("MD5OfBody", ""),
            "eventSource": "aws:sqs",
            "eventSourceARN": source.queue_arn,
            "awsRegion": source.queue_arn.split(":")[3],
        }

    def run_due_schedules(self) -> list[str]:
        """Runs every schedule whose time has come; returns the handlers run."""
        now = self._clock()
        ran = []
        for schedule in self.schedules:
            if now < schedule.next_run:
                continue
            schedule.next_run = now + schedule.interval
            event = {
                "version": "0",
                "id": str(uuid.uuid4()),
                "detail-type": "Scheduled Event",
                "source": "aws.events",
                "account": "123456789012",
                "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "region": "us-east-1",
                "resources": [f"arn:aws:events:us-east-1:123456789012:rule/{schedule.handler}"],
                "detail": {},
            }
            try:
                self._invoke(schedule.handler, event)
            except Exception:
                log.exception("scheduled %s failed", schedule.handler)
            ran.append(schedule.handler)
        return ran

    def run(self, stop: threading.Event, idle_sleep: float = 0.2) -> None:
        while not stop.is_set():
            self.run_due_schedules()
            if not self.pump_queues():
                stop.wait(idle_sleep)
