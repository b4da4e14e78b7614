"""Retention by plan, to the second: served until `expires_at`, never after; the sweeps delete
what is due and only that. The suite runs twice: on the stage's bucket (KMS, lifecycle rules,
object tags) and on a plain bucket with object tags off, as on an S3-compatible store."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlparse

import pytest
import time_machine
from botocore.exceptions import ClientError
from conftest import get, post, signup_body, verify_email
from fakes import ScriptedProvider

from chalicelib import aws
from chalicelib.adapters.queue import MessageQueue
from chalicelib.adapters.storage import MediaStore
from chalicelib.adapters.video import ProviderStatus
from chalicelib.models import OneTimeToken, Session, VideoJob
from chalicelib.models.jobs import EXPIRY_SHARDS
from chalicelib.services import catalogue, generation, onetime, retention

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
VIDEO = {"prompt": "Snow falling on a quiet harbour", "seconds": 4, "size": "720x1280"}


@pytest.fixture(params=["s3", "plain-store"])
def store(request, world):
    if request.param == "s3":
        return MediaStore(world.bucket)
    bucket = f"aisora-dev-plain-{uuid.uuid4().hex[:8]}"
    aws.s3().create_bucket(Bucket=bucket)  # no encryption rule, no lifecycle, no tags
    return MediaStore(bucket, object_tags=False)


@pytest.fixture
def deps(world, store):
    queue = aws.sqs().create_queue(QueueName=f"aisora-dev-test-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    return generation.Dependencies(MessageQueue(queue), store, {"local": ScriptedProvider()}, 300, 0)


def make_video(client, token, deps) -> VideoJob:
    """A completed video, made at whatever time the test's clock says."""
    user_id = get(client, "/me", token).json_body["id"]
    from chalicelib.services import credits

    credits.apply(user_id, 40, "adjustment", f"test:{uuid.uuid4().hex}")
    job_id = post(client, "/videos", VIDEO, token).json_body["id"]
    generation.handle_message({"job_id": job_id, "action": "submit"}, deps)
    deps.engines["local"].status = ProviderStatus("completed", 100)
    generation.handle_message({"job_id": job_id, "action": "check"}, deps)
    return VideoJob.get(job_id)


def exists(store: MediaStore, key: str) -> bool:
    try:
        store.client.head_object(Bucket=store._bucket, Key=key)
    except ClientError:
        return False
    return True


def new_user(client, plan_id: str, store: MediaStore) -> dict:
    """Signs up (on the test's clock) and moves to the plan; returns the credentials."""
    body = signup_body()
    token = post(client, "/auth/signup", body).json_body["access_token"]
    verify_email(client, body["email"])
    if plan_id != "free":
        retention.change_plan(get(client, "/me", token).json_body["id"], plan_id, store)
    return body


def signin(client, account: dict) -> str:
    """An access token valid on the test's clock now (they last 15 minutes)."""
    login = {"email": account["email"], "password": account["password"]}
    return post(client, "/auth/login", login).json_body["access_token"]


@pytest.mark.policy(
    "retention-free-7", "retention-basic-30", "retention-standard-60", "retention-pro-90", "download-anytime"
)
@pytest.mark.parametrize("plan_id", list(catalogue.PLANS))
def test_a_video_is_served_to_the_last_second_of_its_plan_and_never_after(client, deps, plan_id):
    days = catalogue.PLANS[plan_id].retention_days
    with time_machine.travel(T0, tick=False):
        account = new_user(client, plan_id, deps.store)
        job = make_video(client, signin(client, account), deps)
    assert job.expires_at == job.completed_at + timedelta(days=days)

    with time_machine.travel(job.expires_at - timedelta(seconds=1), tick=False):
        token = signin(client, account)
        assert retention.sweep_expired_videos(deps.store) == 0
        assert get(client, f"/videos/{job.job_id}", token).json_body["status"] == "completed"
        download = get(client, f"/videos/{job.job_id}/download", token)
        assert download.status_code == 200
        # The address dies with the video, not five minutes after it.
        assert parse_qs(urlparse(download.json_body["url"]).query)["X-Amz-Expires"] == ["1"]
        assert all(exists(deps.store, k) for k in job.file_keys())

    with time_machine.travel(job.expires_at, tick=False):
        token = signin(client, account)
        # Expired to every reader at once, before any sweep has run.
        assert get(client, f"/videos/{job.job_id}", token).json_body["status"] == "expired"
        gone = get(client, f"/videos/{job.job_id}/download", token)
        assert gone.status_code == 410 and gone.json_body["error"]["code"] == "expired"
        assert "thumbnail_url" not in get(client, f"/videos/{job.job_id}", token).json_body
        assert retention.sweep_expired_videos(deps.store) == 1
    assert not any(exists(deps.store, k) for k in job.file_keys())
    job.refresh()
    assert job.status == "expired" and job.file_keys() == [] and job.expiry_shard is None
    assert get(client, f"/videos/{job.job_id}/download", signin(client, account)).status_code == 410


@pytest.mark.policy("download-anytime")
def test_an_upgrade_extends_videos_already_made_and_a_downgrade_keeps_them(client, deps):
    with time_machine.travel(T0, tick=False):
        account = new_user(client, "free", deps.store)
        token = signin(client, account)
        user_id = get(client, "/me", token).json_body["id"]
        job = make_video(client, token, deps)
    assert job.expires_at == T0 + timedelta(days=7)

    with time_machine.travel(T0 + timedelta(days=3), tick=False):
        assert retention.change_plan(user_id, "basic", deps.store) == 1
    job.refresh()
    assert job.expires_at == T0 + timedelta(days=30)
    if deps.store.object_tags:
        tags = aws.s3().get_object_tagging(Bucket=deps.store._bucket, Key=job.video_key)["TagSet"]
        assert tags == [{"Key": "retention-days", "Value": "30"}]

    with time_machine.travel(T0 + timedelta(days=4), tick=False):
        assert retention.change_plan(user_id, "free", deps.store) == 0
        later = make_video(client, signin(client, account), deps)
    job.refresh()
    assert job.expires_at == T0 + timedelta(days=30)
    assert later.expires_at == later.completed_at + timedelta(days=7)

    with time_machine.travel(T0 + timedelta(days=8), tick=False):
        assert retention.sweep_expired_videos(deps.store) == 0
        assert get(client, f"/videos/{job.job_id}/download", signin(client, account)).status_code == 200


def test_an_upgrade_does_not_revive_an_expired_video(client, deps):
    with time_machine.travel(T0, tick=False):
        account = new_user(client, "free", deps.store)
        token = signin(client, account)
        user_id = get(client, "/me", token).json_body["id"]
        job = make_video(client, token, deps)
    with time_machine.travel(T0 + timedelta(days=8), tick=False):
        assert retention.change_plan(user_id, "pro", deps.store) == 0
        assert get(client, f"/videos/{job.job_id}/download", signin(client, account)).status_code == 410


@pytest.fixture
def atomic_writes(monkeypatch):
    """In-process moto checks a condition and writes in two steps, so two threads can both pass
    one condition; DynamoDB applies each conditional write atomically. One lock restores that."""
    from moto.dynamodb.models import DynamoDBBackend

    lock = threading.RLock()  # a transaction calls the single writes inside it
    for name in ("update_item", "put_item", "delete_item", "transact_write_items"):
        write = getattr(DynamoDBBackend, name)

        def atomic(*args, _write=write, **kwargs):
            with lock:
                return _write(*args, **kwargs)

        monkeypatch.setattr(DynamoDBBackend, name, atomic)


def test_two_sweeps_at_once_expire_each_video_once(client, deps, atomic_writes):
    with time_machine.travel(T0, tick=False):
        token = signin(client, new_user(client, "free", deps.store))
        jobs = [make_video(client, token, deps) for _ in range(3)]
    results: list[int] = []
    at = T0 + timedelta(days=7, hours=1)
    # Other tests' videos share the table; count every video due, these three among them.
    due = sum(VideoJob.expiring_by_time.count(shard, VideoJob.expires_at <= at)
              for shard in EXPIRY_SHARDS)
    assert due >= 3
    with time_machine.travel(at, tick=False):
        sweeps = [threading.Thread(target=lambda: results.append(retention.sweep_expired_videos(deps.store)))
                  for _ in range(2)]
        for sweep in sweeps:
            sweep.start()
        for sweep in sweeps:
            sweep.join()
    assert sum(results) == due
    for job in jobs:
        job.refresh()
        assert job.status == "expired" and not any(exists(deps.store, k) for k in job.file_keys())


def test_the_hourly_schedule_runs_the_sweep(client, world):
    store = MediaStore(world.bucket)
    queue = MessageQueue(world.queue_urls["JobsQueue"])
    deps = generation.Dependencies(queue, store, {"local": ScriptedProvider()}, 300, 0)
    with time_machine.travel(T0, tick=False):
        job = make_video(client, signin(client, new_user(client, "free", store)), deps)
    tick = client.events.generate_cw_event(source="aws.events", detail_type="Scheduled Event",
                                           detail={}, resources=[])
    with time_machine.travel(job.expires_at + timedelta(minutes=30), tick=False):
        assert client.lambda_.invoke("expire_videos", tick).payload["expired"] >= 1
    job.refresh()
    assert job.status == "expired"


def test_sessions_and_links_past_their_life_are_deleted_and_the_rest_kept(client):
    with time_machine.travel(T0, tick=False):
        old = post(client, "/auth/signup", signup_body()).json_body
        post(client, "/auth/password-reset", {"email": "nobody-in-particular@example.com"})
    with time_machine.travel(T0 + timedelta(days=29), tick=False):
        fresh = post(client, "/auth/signup", signup_body()).json_body
    old_session = old["refresh_token"].split(".")[0]
    fresh_session = fresh["refresh_token"].split(".")[0]
    with time_machine.travel(T0 + timedelta(days=30, minutes=1), tick=False):
        fresh_link = onetime.issue(onetime.RESET_PASSWORD, "someone")
        swept = retention.sweep_expired_sessions()
    assert swept["sessions"] >= 1 and swept["links"] >= 1
    with pytest.raises(Session.DoesNotExist):
        Session.get(old_session)
    assert Session.get(fresh_session)
    assert OneTimeToken.get(onetime._hash(fresh_link))


@pytest.mark.policy("transaction-records-7y")
def test_ledger_rows_are_kept_seven_years_and_then_deleted(client):
    from chalicelib.models import LedgerEntry
    from chalicelib.models.ledger import KEEP
    from chalicelib.services import credits

    with time_machine.travel(T0, tick=False):
        token = signin(client, new_user(client, "free", MediaStore("unused")))
        user_id = get(client, "/me", token).json_body["id"]
        credits.apply(user_id, 10, "adjustment", "test:old")
    with time_machine.travel(T0 + timedelta(days=365), tick=False):
        credits.apply(user_id, 10, "adjustment", "test:newer")
    with time_machine.travel(T0 + timedelta(days=7 * 365), tick=False):
        assert retention.sweep_old_ledger_rows() == 0  # seven years are not over yet
    with time_machine.travel(T0 + KEEP + timedelta(minutes=1), tick=False):
        assert retention.sweep_old_ledger_rows() >= 2  # the signup grant and the old adjustment
    assert sorted(r.reference for r in LedgerEntry.query(user_id)) == ["test:newer"]
