"""The end of a job: its result copied, checked and kept exactly once, or the job failed and
refunded exactly once.

Two completions of one job may run at once (a webhook's check and the re-check message, or one
message delivered twice). The first to move the job from `in_progress` to `finishing` copies the
files, under keys of its own claim, and completes the job on condition that it still holds the
claim; whoever loses deletes only its own keys, so the winner's files are never touched. A claim
lapses after FINISH_LEASE, longer than the worker's 120 s timeout, so a finisher that died is
taken over by the next check and a live one never is.
"""

from __future__ import annotations

import contextlib
import io
import logging
import uuid
from datetime import timedelta
from typing import BinaryIO

from pynamodb.exceptions import UpdateError
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from chalicelib import observability
from chalicelib.adapters import images, mp4
from chalicelib.adapters.storage import MediaStore
from chalicelib.adapters.video import VideoProvider
from chalicelib.errors import NotFound
from chalicelib.models import User, VideoJob
from chalicelib.models.base import utcnow
from chalicelib.services import accounts, catalogue, credits, retention

log = logging.getLogger(__name__)

OPEN_STATES = ("queued", "submitting", "in_progress", "finishing")
FINISH_LEASE = timedelta(seconds=180)
# How far a result's length may be from the length sold: engines round to their frame rate
# (Wan's 81 frames at 16 fps are 5.06 s), never by more than a fraction of a second.
DURATION_TOLERANCE_SECONDS = 0.5
_MAX_VIDEO_BYTES = 2 * 1024**3


class BadResult(Exception):
    """Raised when the engine's file is not the video that was sold (not an MP4, too short)."""


def complete(job: VideoJob, engine: VideoProvider, store: MediaStore) -> bool:
    """Copies, checks and keeps the finished video; False when another finisher holds the job."""
    assert job.provider_job_id
    claim = uuid.uuid4().hex[:16]
    now = utcnow()
    try:
        job.update(
            actions=[VideoJob.status.set("finishing"), VideoJob.finisher.set(claim),
                     VideoJob.finishing_until.set(now + FINISH_LEASE), VideoJob.updated_at.set(now)],
            condition=(VideoJob.status == "in_progress")
            | ((VideoJob.status == "finishing") & (VideoJob.finishing_until < now)),
        )
    except UpdateError:
        return job_ended(job.job_id)
    owner = accounts.get_user(job.user_id)
    prefix = f"videos/{job.user_id}/{job.job_id}/{claim}"
    keys = {"video": f"{prefix}/video.mp4", "thumbnail": f"{prefix}/thumbnail.webp"}
    tags = retention.retention_tags(catalogue.plan(owner.plan).retention_days)
    try:
        # Copied at once: an engine's download links expire within about an hour.
        with _opened(engine.open_content(job.provider_job_id, "video"), "video") as body:
            store.put(keys["video"], body, "video/mp4", tags)
        check_video(store, keys["video"], int(job.seconds))
        with _opened(engine.open_content(job.provider_job_id, "thumbnail"), None) as body:
            store.put(keys["thumbnail"], body or io.BytesIO(_poster(job, store)), "image/webp", tags)
    except BadResult as exc:
        store.delete(list(keys.values()))
        fail(job, "bad_result", f"The video model returned an unusable video: {exc}. "
             "Your credits were refunded.")
        engine.delete(job.provider_job_id)
        return True
    except Exception:
        # Worth another try (a cut download, S3 busy): give the claim back and let SQS redeliver.
        store.delete(list(keys.values()))
        with contextlib.suppress(UpdateError):
            job.update(actions=[VideoJob.status.set("in_progress"), VideoJob.finisher.remove(),
                                VideoJob.finishing_until.remove()],
                       condition=(VideoJob.status == "finishing") & (VideoJob.finisher == claim))
        raise
    now = utcnow()
    try:
        job.update(
            actions=[
                VideoJob.status.set("completed"),
                VideoJob.progress.set(100),
                VideoJob.video_key.set(keys["video"]),
                VideoJob.thumbnail_key.set(keys["thumbnail"]),
                VideoJob.completed_at.set(now),
                VideoJob.expires_at.set(retention.expires_at(now, owner.plan)),
                VideoJob.expiry_shard.set(retention.expiry_shard(job.job_id)),
                VideoJob.updated_at.set(now),
                VideoJob.pending.remove(),
                VideoJob.finisher.remove(),
                VideoJob.finishing_until.remove(),
            ],
            condition=(VideoJob.status == "finishing") & (VideoJob.finisher == claim),
        )
    except UpdateError:
        # Failed by the deadline sweep, deleted, or taken over meanwhile: only our own copy goes.
        store.delete(list(keys.values()))
        return True
    release(job)
    observability.metric("VideosCompleted", 1, "Count", model=job.model)
    observability.metric("GenerationTime", (now - job.created_at).total_seconds(), "Seconds", model=job.model)
    engine.delete(job.provider_job_id)
    return True


def job_ended(job_id: str) -> bool:
    """After a lost claim: True when nothing more is to be done (the job ended or is gone)."""
    try:
        job = VideoJob.get(job_id, consistent_read=True, attributes_to_get=["status"])
    except VideoJob.DoesNotExist:
        return True
    return job.status not in OPEN_STATES


@contextlib.contextmanager
def _opened(body: BinaryIO | None, required: str | None):  # type: ignore[no-untyped-def]
    if body is None and required:
        raise BadResult(f"the engine gave no {required} file")
    try:
        yield body
    finally:
        if body is not None:
            body.close()


def check_video(store: MediaStore, key: str, promised_seconds: int) -> None:
    """The stored copy is an MP4 of the promised length, read from S3 by ranges (its `moov`
    box may sit after the media); raises BadResult with a reason a person can read."""
    size = store.size(key)
    if size == 0:
        raise BadResult("the file is empty")
    if size > _MAX_VIDEO_BYTES:
        raise BadResult(f"the file has {size} bytes, more than a video of this length can")
    try:
        seconds = mp4.duration_seconds(lambda offset, length: store.read_range(key, offset, length), size)
    except mp4.NotMP4 as exc:
        raise BadResult(f"it is not an MP4 video ({exc})") from None
    if abs(seconds - promised_seconds) > DURATION_TOLERANCE_SECONDS:
        raise BadResult(f"it lasts {seconds:.1f} seconds instead of {promised_seconds}")


def _poster(job: VideoJob, store: MediaStore) -> bytes:
    """For an engine that gives no thumbnail: the start image, else a gradient of the prompt."""
    start = store.read(job.reference_key, limit=images.CLEAN_MAX_BYTES) if job.reference_key else None
    return images.poster(job.size, start, job.prompt)


def release(job: VideoJob) -> None:
    """Takes an ended job out of its owner's open jobs. Not in the job's own write: one left in
    costs a read at the owner's next request, never a wrong answer."""
    with contextlib.suppress(UpdateError):  # the account is gone
        User(job.user_id).update(actions=[User.open_jobs.delete({job.job_id})],
                                 condition=User.user_id.exists())


def fail(job: VideoJob, code: str, message: str) -> None:
    """Ends an open job as failed and refunds its cost, both exactly once."""
    now = utcnow()
    actions = [
        VideoJob.status.set("failed"),
        VideoJob.error_code.set(code),
        VideoJob.error_message.set(message),
        VideoJob.updated_at.set(now),
        VideoJob.pending.remove(),
    ]
    still_open = VideoJob.status.is_in(*OPEN_STATES)

    def mark_failed(tx: TransactWrite) -> None:
        tx.update(VideoJob(job.job_id), actions=actions, condition=still_open)

    def released(_owner: User) -> tuple[list[Action], None]:
        return [User.open_jobs.delete({job.job_id})], None

    try:
        credits.apply(job.user_id, int(job.cost), "refund", f"job:{job.job_id}:refund", mark_failed,
                      user_actions=released)
    except credits.AlreadyApplied:
        return
    except NotFound:
        # The account is gone, so there is no balance to refund; still end the job.
        try:
            VideoJob(job.job_id).update(actions=actions, condition=still_open)
        except UpdateError:
            return
    observability.metric("VideosFailed", 1, "Count", reason=code)
