"""Completion exactly once: concurrent finishers never delete the winner's files, and a result
that is not the video sold fails and is refunded once."""

from __future__ import annotations

import io
import threading
import uuid
from datetime import timedelta

import pytest
from conftest import get, post
from fakes import ScriptedProvider, box, tiny_mp4

from chalicelib import aws
from chalicelib.adapters import mp4
from chalicelib.adapters.queue import MessageQueue
from chalicelib.adapters.storage import MediaStore
from chalicelib.adapters.video import ProviderStatus
from chalicelib.models import LedgerEntry, VideoJob
from chalicelib.models.base import utcnow
from chalicelib.services import generation

FOUR_SECONDS = {"prompt": "A paper boat on a river", "seconds": 4, "size": "720x1280"}


pytestmark = pytest.mark.usefixtures("drained_jobs_queue")


@pytest.fixture
def engine():
    provider = ScriptedProvider("local")
    provider.status = ProviderStatus("completed", 100)
    return provider


@pytest.fixture
def deps(world, engine):
    queue = aws.sqs().create_queue(QueueName=f"aisora-dev-test-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    return generation.Dependencies(MessageQueue(queue), MediaStore(world.bucket), {"local": engine}, 300, 0)


@pytest.fixture
def job(client, user, deps) -> VideoJob:
    response = post(client, "/videos", FOUR_SECONDS, user["access_token"])
    job = VideoJob.get(response.json_body["id"])
    generation.handle_message({"job_id": job.job_id, "action": "submit"}, deps)
    job.refresh()
    return job


def check(job, deps, source=None):
    message = {"job_id": job.job_id, "action": "check", **({"source": source} if source else {})}
    generation.handle_message(message, deps)


def stored(deps, job) -> set[str]:
    listed = aws.s3().list_objects_v2(Bucket=deps.store.bucket, Prefix=f"videos/{job.user_id}/{job.job_id}/")
    return {item["Key"] for item in listed.get("Contents", [])}


def refunds(job):
    return [e for e in LedgerEntry.query(job.user_id) if e.reference == f"job:{job.job_id}:refund"]


class Paused:
    """Holds the first video download until released, so that another check runs meanwhile."""

    def __init__(self, engine: ScriptedProvider) -> None:
        self.reached, self.go = threading.Event(), threading.Event()
        self._first = True
        engine.before_download = self._hold

    def _hold(self, variant: str) -> None:
        if variant == "video" and self._first:
            self._first = False
            self.reached.set()
            assert self.go.wait(10)

    def run(self, target) -> threading.Thread:
        errors: list[BaseException] = []

        def guarded() -> None:
            try:
                target()
            except BaseException as exc:  # reported by the test
                errors.append(exc)

        thread = threading.Thread(target=guarded)
        thread.errors = errors  # type: ignore[attr-defined]
        thread.start()
        assert self.reached.wait(10)
        return thread


def test_a_check_racing_a_finisher_leaves_it_alone_and_the_video_completes_once(job, deps, engine):
    paused = Paused(engine)
    first = paused.run(lambda: check(job, deps))
    check(job, deps, source="webhook")  # the webhook's check while the re-check copies
    check(job, deps)  # and a duplicate delivery
    assert VideoJob.get(job.job_id).status == "finishing"
    paused.go.set()
    first.join(10)
    assert first.errors == []  # type: ignore[attr-defined]
    job.refresh()
    assert job.status == "completed"
    assert stored(deps, job) == {job.video_key, job.thumbnail_key}
    assert engine.deleted == [job.provider_job_id]


def test_a_finisher_overtaken_after_its_lease_deletes_only_its_own_copy(job, deps, engine):
    paused = Paused(engine)
    slow = paused.run(lambda: check(job, deps))
    # The slow finisher's lease runs out (as if it had died), and the next check takes over.
    VideoJob(job.job_id).update(actions=[VideoJob.finishing_until.set(utcnow() - timedelta(seconds=1))])
    check(job, deps)
    job.refresh()
    assert job.status == "completed"
    winner = {job.video_key, job.thumbnail_key}
    paused.go.set()
    slow.join(10)
    assert slow.errors == []  # type: ignore[attr-defined]
    job.refresh()
    assert (job.status, {job.video_key, job.thumbnail_key}) == ("completed", winner)
    assert stored(deps, job) == winner
    assert deps.store.read(job.video_key, limit=10_000) == tiny_mp4(4)


def test_a_job_failed_by_the_deadline_while_finishing_keeps_no_files_and_is_refunded_once(job, deps, engine):
    paused = Paused(engine)
    finisher = paused.run(lambda: check(job, deps))
    VideoJob(job.job_id).update(actions=[VideoJob.deadline_at.set(utcnow() - timedelta(seconds=1))])
    generation.fail_overdue_jobs()
    paused.go.set()
    finisher.join(10)
    job.refresh()
    assert job.status == "failed" and job.error_code == "timed_out"
    assert stored(deps, job) == set()
    assert len(refunds(job)) == 1


def test_a_late_check_of_a_completed_job_changes_nothing(job, deps, engine):
    check(job, deps)
    job.refresh()
    files = stored(deps, job)
    check(job, deps, source="webhook")
    check(job, deps)
    assert stored(deps, job) == files and len(engine.deleted) == 1


@pytest.mark.parametrize("video, reason", [
    (tiny_mp4(1.5), "lasts 1.5 seconds instead of 4"),
    (b"<html>rate limited</html>", "not an MP4"),
    (tiny_mp4(4)[:40], "not an MP4"),
    (b"", "empty"),
])
def test_a_result_that_is_not_the_video_sold_fails_and_is_refunded_once(client, user, job, deps, engine,
                                                                         video, reason):
    engine.video = video
    check(job, deps)
    check(job, deps)
    job.refresh()
    assert job.status == "failed" and job.error_code == "bad_result"
    assert reason in job.error_message and "refunded" in job.error_message
    assert len(refunds(job)) == 1
    assert stored(deps, job) == set()
    assert engine.deleted == [job.provider_job_id]
    assert get(client, "/me", user["access_token"]).json_body["credits"] == 40


@pytest.mark.parametrize("video", [tiny_mp4(4, moov_last=True), tiny_mp4(4.3, version=1), tiny_mp4(3.6)])
def test_an_mp4_of_the_promised_length_within_half_a_second_completes(job, deps, engine, video):
    engine.video = video
    check(job, deps)
    job.refresh()
    assert job.status == "completed"


def test_without_a_thumbnail_from_the_engine_the_video_still_gets_a_poster(client, user, job, deps, engine):
    engine.gives_thumbnail = False
    check(job, deps)
    job.refresh()
    poster = deps.store.read(job.thumbnail_key, limit=1_000_000)
    assert poster[:4] == b"RIFF" and poster[8:12] == b"WEBP"
    assert "thumbnail_url" in get(client, f"/videos/{job.job_id}", user["access_token"]).json_body


def test_a_poster_is_made_of_the_start_image_when_there_is_one(job, deps, engine):
    from PIL import Image

    red = io.BytesIO()
    Image.new("RGB", (720, 1280), (220, 10, 10)).save(red, "PNG")
    key = f"references/{job.user_id}/{uuid.uuid4().hex}.png"
    deps.store.put_bytes(key, red.getvalue(), "image/png")
    VideoJob(job.job_id).update(actions=[VideoJob.reference_key.set(key)])
    engine.gives_thumbnail = False
    check(job, deps)
    job.refresh()
    poster = Image.open(io.BytesIO(deps.store.read(job.thumbnail_key, limit=1_000_000)))
    assert poster.size == (360, 640)
    red_, green, blue = poster.convert("RGB").getpixel((180, 320))
    assert red_ > 180 and green < 60 and blue < 60


def _read(data: bytes):
    return lambda offset, length: data[offset:offset + length]


def test_the_duration_is_read_from_mvhd_wherever_moov_sits():
    for data in (tiny_mp4(8), tiny_mp4(8, moov_last=True), tiny_mp4(8, version=1)):
        assert mp4.duration_seconds(_read(data), len(data)) == 8.0


@pytest.mark.parametrize("data", [
    box(b"moov", b""),  # no ftyp first
    box(b"ftyp", b"isom") + box(b"mdat", b"x" * 10),  # no moov
    box(b"ftyp", b"isom") + box(b"moov", box(b"mvhd", bytes(20))),  # a timescale of 0
    box(b"ftyp", b"isom") + b"\x00\x00\xff\xffmoov",  # a box longer than the file
    box(b"ftyp", b"isom") + box(b"free", b"") * 300,  # too many boxes
])
def test_a_file_that_is_not_an_mp4_with_a_duration_is_refused(data):
    with pytest.raises(mp4.NotMP4):
        mp4.duration_seconds(_read(data), len(data))
