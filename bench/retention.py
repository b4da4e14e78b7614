"""Cost of one retention sweep: DynamoDB items read with 100 expired videos among 100 live
ones, and among 10,000 live ones. The sweep queries an index keyed for expiry, so the second
should cost about the same as the first (goal: at most 1.2 times).

    make bench        (or: .venv/bin/python bench/retention.py)
"""

from __future__ import annotations

import os
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.update({
    "STAGE": "dev", "RESOURCE_PREFIX": "aisora-bench", "MEDIA_BUCKET": "aisora-bench-media",
    "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x", "AWS_DEFAULT_REGION": "us-east-1",
})
os.environ.pop("AWS_ENDPOINT_URL", None)

from moto import mock_aws  # noqa: E402

EXPIRED = 100


def scenario(live: int) -> dict[str, float]:
    with mock_aws():
        from chalicelib import aws
        from chalicelib.adapters.storage import MediaStore
        from chalicelib.local.bootstrap import bootstrap
        from chalicelib.models import VideoJob
        from chalicelib.models.base import utcnow
        from chalicelib.services import retention

        aws.reset_clients()
        bootstrap()
        now = utcnow()
        with VideoJob.batch_write() as batch:
            for n in range(EXPIRED + live):
                job_id = uuid.uuid4().hex
                due = now - timedelta(hours=1) if n < EXPIRED else now + timedelta(days=5)
                batch.save(VideoJob(
                    job_id, user_id="bench", status="completed", prompt="p", model="sora-2",
                    seconds=4, size="720x1280", cost=40, provider="local", progress=100,
                    video_key=f"videos/bench/{job_id}/video.mp4", completed_at=due - timedelta(days=7),
                    expires_at=due, expiry_shard=retention.expiry_shard(job_id),
                ))
        counts = {"calls": 0, "items_read": 0}

        def count(http_response, parsed, model, **_):
            counts["calls"] += 1
            counts["items_read"] += parsed.get("ScannedCount", 1 if "Item" in parsed else 0)

        client = VideoJob._get_connection().connection.client
        client.meta.events.register("after-call.dynamodb", count)
        started = time.perf_counter()
        expired = retention.sweep_expired_videos(MediaStore(os.environ["MEDIA_BUCKET"]))
        elapsed = time.perf_counter() - started
        client.meta.events.unregister("after-call.dynamodb", count)
        VideoJob._connection = None  # the next scenario's moto is a new world
        assert expired == EXPIRED, expired
        return {**counts, "seconds": elapsed}


def main() -> None:
    small = scenario(100)
    large = scenario(10_000)
    print(f"{'sweep of 100 expired':34} {'items read':>10} {'DynamoDB calls':>15} {'seconds':>8}")
    for label, figures in (("among 100 live", small), ("among 10,000 live", large)):
        print(f"{label:34} {figures['items_read']:>10} {figures['calls']:>15} {figures['seconds']:>8.2f}")
    print(f"{'ratio (goal <= 1.2)':34} {large['items_read'] / small['items_read']:>10.2f}")


if __name__ == "__main__":
    main()
