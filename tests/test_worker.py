"""The generation worker and the stuck-jobs schedule: idempotent, and every failure refunded once."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
from conftest import get, post
from fakes import ScriptedProvider

from chalicelib import aws
from chalicelib.adapters.queue import MessageQueue
from chalicelib.adapters.storage import MediaStore
from chalicelib.adapters.video import ProviderRefused, ProviderStatus, ProviderUnavailable
from chalicelib.models import LedgerEntry, User, VideoJob
from chalicelib.models.base import utcnow
from chalicelib.services import generation

FOUR_SECONDS = {"prompt": "A hot air balloon over a canyon", "seconds": 4, "size": "720x1280"}


@pytest.fixture
def side_queue(world):
    """A queue of the test's own, so the worker's follow-up messages stay out of the app's."""
    url = aws.sqs().create_queue(QueueName=f"aisora-dev-test-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    return url


@pytest.fixture
def provider():
    return ScriptedProvider()


@pytest.fixture
def deps(world, side_queue, provider):
    return generation.Dependencies(
        queue=MessageQueue(side_queue),
        store=MediaStore(world.bucket),
        engines={"local": provider},
        download_url_seconds=300,
        recheck_delay_seconds=0,
    )


def queued_job(client, user) -> VideoJob:
    response = post(client, "/videos", FOUR_SECONDS, user["access_token"])
    assert response.status_code == 202
    return VideoJob.get(response.json_body["id"])


def messages(queue_url):
    got = aws.sqs().receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(m["Body"]) for m in got]


def refunds(job):
    return [e for e in LedgerEntry.query(job.user_id) if e.reference == f"job:{job.job_id}:refund"]


def test_the_sqs_handler_submits_a_queued_job(client, user):
    job = queued_job(client, user)
    event = client.events.generate_sqs_event(
        message_bodies=[json.dumps({"job_id": job.job_id, "action": "submit"})],
        queue_name="aisora-dev-jobs",
    )
    client.lambda_.invoke("generate_video", event)
    job.refresh()
    assert job.status == "in_progress"
    assert job.provider_job_id.startswith("local_")


def test_a_redelivered_submit_never_reaches_the_provider_twice(client, user, deps, provider, side_queue):
    job = queued_job(client, user)
    message = {"job_id": job.job_id, "action": "submit"}
    for _ in range(5):
        generation.handle_message(message, deps)
    assert len(provider.created) == 1
    job.refresh()
    assert job.provider_job_id == provider.created[0]
    assert {m["action"] for m in messages(side_queue)} == {"check"}


def test_a_submit_claimed_by_another_worker_is_left_to_it(client, user, deps, provider):
    job = queued_job(client, user)
    job.update(actions=[VideoJob.status.set("submitting")])
    generation.handle_message({"job_id": job.job_id, "action": "submit"}, deps)
    assert provider.created == []


def test_a_failed_video_is_refunded_exactly_once(client, user, deps, provider):
    job = queued_job(client, user)
    generation.handle_message({"job_id": job.job_id, "action": "submit"}, deps)
    provider.status = ProviderStatus("failed", 10, "the model ran out of memory")
    check = {"job_id": job.job_id, "action": "check"}
    generation.handle_message(check, deps)
    generation.handle_message(check, deps)
    view = get(client, f"/videos/{job.job_id}", user["access_token"]).json_body
    assert view["status"] == "failed"
    assert "ran out of memory" in view["error"]["message"]
    assert len(refunds(job)) == 1
    assert get(client, "/me", user["access_token"]).json_body["credits"] == 40


def test_a_refused_prompt_is_refunded_and_not_retried(client, user, deps, provider):
    job = queued_job(client, user)
    provider.create_error = ProviderRefused("the prompt names a real person")
    generation.handle_message({"job_id": job.job_id, "action": "submit"}, deps)  # does not raise
    job.refresh()
    assert job.status == "failed" and job.error_code == "refused"
    assert len(refunds(job)) == 1


def test_a_transient_provider_error_is_retried_without_refund(client, user, deps, provider):
    job = queued_job(client, user)
    provider.create_error = ProviderUnavailable("503 from the provider")
    with pytest.raises(ProviderUnavailable):
        generation.handle_message({"job_id": job.job_id, "action": "submit"}, deps)
    job.refresh()
    assert job.status == "queued" and refunds(job) == []
    provider.create_error = None
    generation.handle_message({"job_id": job.job_id, "action": "submit"}, deps)
    job.refresh()
    assert job.status == "in_progress"


def test_progress_is_recorded_and_checked_again_later(client, user, deps, provider, side_queue):
    job = queued_job(client, user)
    generation.handle_message({"job_id": job.job_id, "action": "submit"}, deps)
    messages(side_queue)
    generation.handle_message({"job_id": job.job_id, "action": "check"}, deps)
    assert get(client, f"/videos/{job.job_id}", user["access_token"]).json_body["progress"] == 40
    assert [m["action"] for m in messages(side_queue)] == ["check"]


def test_completion_copies_the_files_and_keeps_them_for_the_plans_period(client, user, deps, provider, world):
    job = queued_job(client, user)
    generation.handle_message({"job_id": job.job_id, "action": "submit"}, deps)
    provider.status = ProviderStatus("completed", 100)
    generation.handle_message({"job_id": job.job_id, "action": "check"}, deps)
    job.refresh()
    assert job.status == "completed"
    assert job.expires_at - job.completed_at == timedelta(days=7)
    s3 = aws.s3()
    for key in (job.video_key, job.thumbnail_key):
        assert key.startswith(f"videos/{job.user_id}/{job.job_id}/")
        tags = s3.get_object_tagging(Bucket=world.bucket, Key=key)["TagSet"]
        assert {"Key": "retention-days", "Value": "7"} in tags
    assert provider.deleted == [job.provider_job_id]
    assert refunds(job) == []


def open_jobs_of(job: VideoJob) -> set[str]:
    return set(User.get(job.user_id, consistent_read=True).open_jobs or ())


@pytest.mark.parametrize("ending", ["completed", "failed", "deleted"])
def test_a_job_that_ends_leaves_its_owners_open_jobs(client, user, deps, provider, ending):
    job = queued_job(client, user)
    assert open_jobs_of(job) == {job.job_id}  # counted in the same write as its debit
    generation.handle_message({"job_id": job.job_id, "action": "submit"}, deps)
    if ending == "deleted":
        generation.delete_video(job.user_id, job.job_id, deps)
    else:
        provider.status = ProviderStatus(ending, 100 if ending == "completed" else 10, "out of luck")
        generation.handle_message({"job_id": job.job_id, "action": "check"}, deps)
    assert open_jobs_of(job) == set()


def test_the_stuck_jobs_schedule_fails_and_refunds_overdue_jobs_once(client, user):
    job = queued_job(client, user)
    job.update(actions=[VideoJob.deadline_at.set(utcnow() - timedelta(minutes=1))])
    tick = client.events.generate_cw_event(
        source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]
    )
    first = client.lambda_.invoke("fail_stuck_jobs", tick)
    second = client.lambda_.invoke("fail_stuck_jobs", tick)
    assert first.payload["failed"] >= 1
    job.refresh()
    assert job.status == "failed" and job.error_code == "timed_out"
    assert len(refunds(job)) == 1
    assert second.payload == {"failed": 0}
    assert get(client, "/me", user["access_token"]).json_body["credits"] == 40


def test_a_malformed_message_is_dropped(deps, provider):
    generation.handle_message({"action": "submit"}, deps)
    generation.handle_message({"job_id": "nope", "action": "dance"}, deps)
    assert provider.created == []


def test_a_dead_lettered_message_fails_its_job_and_refunds_once(client, user):
    job = queued_job(client, user)
    event = client.events.generate_sqs_event(
        message_bodies=[json.dumps({"job_id": job.job_id, "action": "submit"})],
        queue_name="aisora-dev-jobs-dlq")
    client.lambda_.invoke("fail_dead_lettered_jobs", event)
    client.lambda_.invoke("fail_dead_lettered_jobs", event)
    job.refresh()
    assert job.status == "failed" and job.error_code == "failed_repeatedly"
    assert len(refunds(job)) == 1
