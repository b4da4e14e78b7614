"""Cost of one retention sweep: DynamoDB items read with 100 expired videos among 100 live
ones, and among 10,000 live ones. The sweep queries an index keyed for expiry, so the second
should cost about the same as the first (goal: at most 1.2 times).

    make bench        (or: .venv/bin/python bench/retention.py)
"""

from __future__ import annotations

import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench import table, world
from bench.table import FAIL, Row

TITLE = "retention sweep (100 expired videos; in-process moto)"
EXPIRED = 100
GOAL = 1.2


def scenario(live: int) -> dict[str, float]:
    """The sweep's DynamoDB calls and items read (counted by an after-call hook) and its time."""
    with world.in_process_aws():
        from chalicelib.adapters.storage import MediaStore
        from chalicelib.config import settings
        from chalicelib.models import VideoJob
        from chalicelib.models.base import utcnow
        from chalicelib.services import retention

        now = utcnow()
        with VideoJob.batch_write() as batch:
            for n in range(EXPIRED + live):
                job_id = uuid.uuid4().hex
                due = now - timedelta(hours=1) if n < EXPIRED else now + timedelta(days=5)
                batch.save(VideoJob(
                    job_id, user_id="bench", status="completed", prompt="p", model="veo-3.1-fast",
                    seconds=4, size="720x1280", cost=40, provider="local", progress=100,
                    video_key=f"videos/bench/{job_id}/video.mp4", completed_at=due - timedelta(days=7),
                    expires_at=due, expiry_shard=retention.expiry_shard(job_id),
                ))
        counts = {"calls": 0, "items_read": 0, "expired": 0}

        def count(parsed: dict[str, Any], **_: Any) -> None:
            counts["calls"] += 1
            counts["items_read"] += parsed.get("ScannedCount", 1 if "Item" in parsed else 0)

        with world.hooked("after-call.dynamodb", count):
            started = time.perf_counter()
            counts["expired"] = retention.sweep_expired_videos(MediaStore(settings().media_bucket))
            elapsed = time.perf_counter() - started
        return {**counts, "seconds": elapsed}


def measure() -> list[Row]:
    small, large = scenario(100), scenario(10_000)
    ratio = large["items_read"] / small["items_read"]
    swept = small["expired"] == large["expired"] == EXPIRED
    return [
        Row("sweep, items read among 10,000 live", f"{large['items_read']:.0f} items",
            f"among 100 live: {small['items_read']:.0f} items", f"{table.times(ratio)} (goal <= {GOAL}x)",
            table.verdict(ratio <= GOAL) if swept else FAIL,
            f"{large['calls']:.0f} vs {small['calls']:.0f} DynamoDB calls"
            + ("" if swept else f"; expired {small['expired']} and {large['expired']}, not {EXPIRED}")),
        Row("sweep, time among 10,000 live", f"{large['seconds']:.2f} s",
            f"among 100 live: {small['seconds']:.2f} s", table.times(large["seconds"] / small["seconds"]),
            detail="moto in-process; the items read above are what DynamoDB bills"),
    ]


if __name__ == "__main__":
    table.main(TITLE, measure)
