"""Video generation jobs, which are also the user's videos once completed."""

from __future__ import annotations

from pynamodb.attributes import (
    BooleanAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, KeysOnlyProjection

from chalicelib.config import resource_name
from chalicelib.models.base import BaseModel, utcnow


class JobsByUser(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_user"
        projection = AllProjection()
        billing_mode = "PAY_PER_REQUEST"

    user_id = UnicodeAttribute(hash_key=True)
    created_at = UTCDateTimeAttribute(range_key=True)


class OpenJobsByDeadline(GlobalSecondaryIndex):
    """Sparse: the stuck-jobs sweep queries open jobs past their deadline, never scans."""

    class Meta:
        index_name = "open_by_deadline"
        projection = AllProjection()
        billing_mode = "PAY_PER_REQUEST"

    pending = UnicodeAttribute(hash_key=True)
    deadline_at = UTCDateTimeAttribute(range_key=True)


class ExpiringByTime(GlobalSecondaryIndex):
    """Sparse: completed videos whose files still exist, by when they expire. The retention
    sweep queries each shard for `expires_at <= now`: its cost follows what expired, not the
    size of the table. Shards spread the writes of a busy day over several partitions."""

    class Meta:
        index_name = "expiring_by_time"
        projection = AllProjection()
        billing_mode = "PAY_PER_REQUEST"

    expiry_shard = UnicodeAttribute(hash_key=True)
    expires_at = UTCDateTimeAttribute(range_key=True)


class JobsByProviderJob(GlobalSecondaryIndex):
    """To find the job a provider's webhook speaks of."""

    class Meta:
        index_name = "by_provider_job"
        projection = KeysOnlyProjection()
        billing_mode = "PAY_PER_REQUEST"

    provider_job_id = UnicodeAttribute(hash_key=True)


class Attempt(MapAttribute):  # type: ignore[type-arg]
    """One submit of the job to one engine, for operators: which engine, how it went, when."""

    provider = UnicodeAttribute()
    # accepted | unavailable (the next route was tried) | unknown (maybe accepted) | refused
    outcome = UnicodeAttribute()
    at = UTCDateTimeAttribute()
    detail = UnicodeAttribute(null=True)


EXPIRY_SHARDS = tuple(f"shard-{n}" for n in range(4))


class VideoJob(BaseModel):
    class Meta(BaseModel.Meta):
        table_name = resource_name("jobs")

    job_id = UnicodeAttribute(hash_key=True)
    user_id = UnicodeAttribute()
    status = UnicodeAttribute(default="queued")
    prompt = UnicodeAttribute()
    model = UnicodeAttribute()
    seconds = NumberAttribute()
    size = UnicodeAttribute()
    cost = NumberAttribute()
    progress = NumberAttribute(default=0)
    # The engine that accepted the job (the first route's until one has); checks and webhooks
    # speak to this one only.
    provider = UnicodeAttribute()
    provider_job_id = UnicodeAttribute(null=True)
    attempts = ListAttribute(of=Attempt, null=True)
    # While "finishing": who copies the result, and until when before another may take over.
    finisher = UnicodeAttribute(null=True)
    finishing_until = UTCDateTimeAttribute(null=True)
    error_code = UnicodeAttribute(null=True)
    error_message = UnicodeAttribute(null=True)
    video_key = UnicodeAttribute(null=True)
    reference_key = UnicodeAttribute(null=True)
    end_reference_key = UnicodeAttribute(null=True)
    # The options asked for, which the worker hands the engine.
    audio = BooleanAttribute(default=False)
    negative_prompt = UnicodeAttribute(null=True)
    thumbnail_key = UnicodeAttribute(null=True)
    created_at = UTCDateTimeAttribute(default=utcnow)
    updated_at = UTCDateTimeAttribute(default=utcnow)
    completed_at = UTCDateTimeAttribute(null=True)
    expires_at = UTCDateTimeAttribute(null=True)

    # Present only while the job is open, so the index below holds open jobs alone.
    pending = UnicodeAttribute(null=True)
    deadline_at = UTCDateTimeAttribute(null=True)

    # Present only while the files exist; the sweep removes it once they are deleted.
    expiry_shard = UnicodeAttribute(null=True)

    by_user = JobsByUser()
    open_by_deadline = OpenJobsByDeadline()
    expiring_by_time = ExpiringByTime()
    by_provider_job = JobsByProviderJob()

    def file_keys(self) -> list[str]:
        keys = (self.video_key, self.thumbnail_key, self.reference_key, self.end_reference_key)
        return [k for k in keys if k]
