"""The local event pump delivers as Lambda's event sources do: retries, dead letters,
schedules on their rate, and bucket events through EventBridge rules."""

from __future__ import annotations

import json
import time
import uuid

from chalice import Chalice, Rate

from chalicelib import aws
from chalicelib.local.pump import EventPump


def _queue_with_dead_letters(max_receives: int) -> tuple[str, str]:
    sqs = aws.sqs()
    name = f"pump-{uuid.uuid4().hex[:8]}"
    dlq = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sqs.create_queue(
        QueueName=name,
        Attributes={
            "VisibilityTimeout": "1",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receives}),
        },
    )
    return name, dlq


def test_a_failing_message_returns_after_its_visibility_timeout_then_is_dead_lettered(world):
    name, dlq = _queue_with_dead_letters(max_receives=3)
    app = Chalice("pump-test")
    deliveries: list[list[str]] = []

    @app.on_sqs_message(queue=name)
    def always_fails(event):
        deliveries.append([record.body for record in event])
        raise RuntimeError("this handler always fails")

    pump = EventPump(app, prefix="pump-test")
    aws.sqs().send_message(QueueUrl=pump.queues[0].queue_url, MessageBody="poison")
    dead: list[dict] = []
    stop_at = time.monotonic() + 15
    while not dead and time.monotonic() < stop_at:
        pump.pump_queues()
        dead = aws.sqs().receive_message(QueueUrl=dlq).get("Messages", [])
        time.sleep(0.2)
    assert deliveries == [["poison"]] * 3
    assert [m["Body"] for m in dead] == ["poison"]


def test_a_handled_message_is_deleted_and_partial_failures_are_kept(world):
    name, _ = _queue_with_dead_letters(max_receives=5)
    app = Chalice("pump-test")
    seen: list[str] = []

    @app.on_sqs_message(queue=name, batch_size=10)
    def keeps_odd(event):
        failures = []
        for record in event:
            seen.append(record.body)
            if int(record.body) % 2:
                failures.append({"itemIdentifier": record.to_dict()["messageId"]})
        return {"batchItemFailures": failures}

    pump = EventPump(app, prefix="pump-test")
    for n in range(4):
        aws.sqs().send_message(QueueUrl=pump.queues[0].queue_url, MessageBody=str(n))
    while pump.pump_queues():
        pass
    time.sleep(1.1)  # the kept ones come back after the visibility timeout
    seen.clear()
    pump.pump_queues()
    assert sorted(seen) == ["1", "3"]


def test_schedules_run_on_their_rate_first_one_interval_after_start(world):
    app = Chalice("pump-test")
    runs: list[str] = []

    @app.schedule(Rate(5, unit=Rate.MINUTES))
    def every_five_minutes(event):
        runs.append(event.detail_type)

    now = [1000.0]
    pump = EventPump(app, prefix="pump-test", clock=lambda: now[0])
    assert pump.run_due_schedules() == []
    now[0] += 299
    assert pump.run_due_schedules() == []
    now[0] += 1
    assert pump.run_due_schedules() == ["every_five_minutes"]
    now[0] += 1
    assert pump.run_due_schedules() == []
    now[0] += 300
    assert pump.run_due_schedules() == ["every_five_minutes"]
    assert runs == ["Scheduled Event", "Scheduled Event"]


def test_bucket_object_created_events_reach_their_handler_through_eventbridge(world):
    app = Chalice("pump-test")
    keys: list[str] = []
    prefix = f"pump-test-{uuid.uuid4().hex[:6]}/"

    @app.on_cw_event({
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {"bucket": {"name": [world.bucket]}, "object": {"key": [{"prefix": prefix}]}},
    })
    def on_object_created(event):
        keys.append(event.detail["object"]["key"])

    pump = EventPump(app, prefix="pump-test")
    aws.s3().put_object(Bucket=world.bucket, Key=f"{prefix}a.png", Body=b"x")
    aws.s3().put_object(Bucket=world.bucket, Key="elsewhere/b.png", Body=b"x")
    pump.pump_queues()
    assert keys == [f"{prefix}a.png"]


def test_the_app_declares_only_sources_the_pump_can_feed(world):
    from app import app

    pump = EventPump(app, prefix="aisora-dev")
    assert {q.handler for q in pump.queues} == {"generate_video", "build_export", "send_notices",
                                                   "fail_dead_lettered_jobs", "check_upload"}
    assert {s.handler for s in pump.schedules} == {
        "fail_stuck_jobs", "expire_videos", "purge_expired_sessions", "erase_closed_accounts",
        "purge_expired_exports", "flag_due_privacy_requests", "reconcile_balances",
        "purge_old_ledger_rows"}
