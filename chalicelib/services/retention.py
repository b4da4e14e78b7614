"""Keeping nothing longer than promised: each video's `expires_at` is the truth, and the
sweeps delete what has passed it. Every sweep reads an index keyed for expiry, never a scan,
and is safe to run twice at once: each deletion is conditional on the row still being due.
"""

from __future__ import annotations

import zlib
from datetime import datetime, timedelta
from typing import Any

from pynamodb.exceptions import DeleteError, UpdateError

from chalicelib.adapters.storage import MediaStore
from chalicelib.models import LedgerEntry, OneTimeToken, Session, User, VideoJob
from chalicelib.models.base import utcnow
from chalicelib.models.jobs import EXPIRY_SHARDS
from chalicelib.services import accounts, catalogue

# How far back the row sweeps look. DynamoDB's own TTL removes older rows anyway; this only
# bounds the work when a sweep has been down for a while.
_LOOKBACK_DAYS = 7


def retention_tags(days: int) -> dict[str, str]:
    """The object tags the bucket's lifecycle backstop matches (plan days + 1)."""
    return {"retention-days": str(days)}


def expiry_shard(job_id: str) -> str:
    return EXPIRY_SHARDS[zlib.crc32(job_id.encode()) % len(EXPIRY_SHARDS)]


def expires_at(completed_at: datetime, plan_id: str) -> datetime:
    return completed_at + timedelta(days=catalogue.plan(plan_id).retention_days)


def sweep_expired_videos(store: MediaStore, now: datetime | None = None) -> int:
    """Deletes the files of every video past `expires_at` and marks it expired."""
    now = now or utcnow()
    expired = 0
    for shard in EXPIRY_SHARDS:
        for job in VideoJob.expiring_by_time.query(shard, VideoJob.expires_at <= now):
            expired += _expire(job, store, now)
    return expired


def _expire(job: VideoJob, store: MediaStore, now: datetime) -> int:
    """1 if this call expired the video, 0 if another sweep did or an upgrade saved it."""
    expired_here = 1
    try:
        # First the record, under the condition that no upgrade extended it meanwhile: from
        # here on the video is expired to every reader, whatever happens to the files.
        job.update(
            actions=[VideoJob.status.set("expired"), VideoJob.updated_at.set(now)],
            condition=(VideoJob.expires_at <= now) & (VideoJob.status == "completed"),
        )
    except UpdateError:
        # Another sweep got here first (then finish its work: deleting twice is harmless),
        # or the video was extended or deleted (then leave it).
        expired_here = 0
        try:
            job.refresh(consistent_read=True)
        except VideoJob.DoesNotExist:
            return 0
        if job.status != "expired":
            return 0
    store.delete(job.file_keys())
    try:
        # Leaves the expiry index only once the files are gone: a crash in between means the
        # next sweep deletes them again.
        job.update(
            actions=[
                VideoJob.expiry_shard.remove(),
                VideoJob.video_key.remove(),
                VideoJob.thumbnail_key.remove(),
                VideoJob.reference_key.remove(),
                VideoJob.end_reference_key.remove(),
            ],
            condition=VideoJob.status == "expired",
        )
    except UpdateError:
        return 0
    return expired_here


def change_plan(user_id: str, plan_id: str, store: MediaStore, now: datetime | None = None) -> int:
    """Moves the user to a plan. On an upgrade, videos already made gain the longer period; on
    a downgrade they keep theirs. New videos follow the new plan. Returns videos extended."""
    new_plan = catalogue.plan(plan_id)
    user = accounts.get_user(user_id)
    old_plan = catalogue.plan(user.plan)
    user.update(actions=[User.plan.set(new_plan.id)])
    if new_plan.retention_days <= old_plan.retention_days:
        return 0
    return extend_existing(user_id, new_plan.id, store, now)


def extend_existing(user_id: str, plan_id: str, store: MediaStore, now: datetime | None = None) -> int:
    """Gives the user's videos still stored the plan's longer period (records and tags)."""
    now = now or utcnow()
    new_plan = catalogue.plan(plan_id)
    extended = 0
    for job in VideoJob.by_user.query(user_id, filter_condition=VideoJob.status == "completed"):
        if job.completed_at is None or job.expires_at is None or job.expires_at <= now:
            continue
        longer = job.completed_at + timedelta(days=new_plan.retention_days)
        if longer <= job.expires_at:
            continue
        try:
            job.update(
                actions=[VideoJob.expires_at.set(longer)],
                condition=(VideoJob.status == "completed") & (VideoJob.expires_at > now),
            )
        except UpdateError:
            continue  # expired or deleted meanwhile
        for key in job.file_keys():
            store.retag(key, retention_tags(new_plan.retention_days))
        extended += 1
    return extended


def _sweep_rows(model: Any, now: datetime) -> int:
    deleted = 0
    for back in range(_LOOKBACK_DAYS, -1, -1):
        day = (now - timedelta(days=back)).date().isoformat()
        for row in model.expiring.query(day, model.expires_at <= now):
            try:
                row.delete(condition=model.expires_at <= now)
            except DeleteError:
                continue  # gone already, or renewed
            deleted += 1
    return deleted


def sweep_old_ledger_rows(now: datetime | None = None) -> int:
    """Transaction records past the 7 years the policy keeps them."""
    return _sweep_rows(LedgerEntry, now or utcnow())


def sweep_expired_sessions(now: datetime | None = None) -> dict[str, int]:
    """Sessions (with the technical data they hold) and emailed links past their lifetime."""
    now = now or utcnow()
    return {"sessions": _sweep_rows(Session, now), "links": _sweep_rows(OneTimeToken, now)}
