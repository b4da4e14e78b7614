"""Peak memory of copying a 200 MB provider result into S3 (a moto server in its own process,
so that its copy of the object is not counted as ours): the worker streams it in multipart
parts, so memory stays bounded whatever the size. Goal: under 64 MB above baseline. Beside
it, the same copy with boto3's default transfer settings (`upload_fileobj` without a Config).

    make bench        (or: .venv/bin/python bench/streaming.py)
"""

from __future__ import annotations

import io
import os
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench import table
from bench.table import FAIL, Row

os.environ.update({"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
                   "AWS_DEFAULT_REGION": "us-east-1"})

TITLE = "streaming a 200 MB result into S3 (moto server on loopback)"
SIZE = 200 * 1024 * 1024
GOAL_MB = 64


class Result(io.RawIOBase):
    """A provider's 200 MB answer, produced as it is read (never whole in memory)."""

    def __init__(self, size: int) -> None:
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        n = min(len(buffer), self.left)
        buffer[:n] = b"\x00" * n
        self.left -= n
        return n


def peak(copy: Callable[[io.BufferedReader], None]) -> tuple[float, float]:
    """(peak Python memory above baseline in MB, seconds) of one copy of the 200 MB result."""
    tracemalloc.start()
    baseline = tracemalloc.get_traced_memory()[0]
    started = time.perf_counter()
    copy(io.BufferedReader(Result(SIZE), 1024 * 1024))
    seconds = time.perf_counter() - started
    top = tracemalloc.get_traced_memory()[1] - baseline
    tracemalloc.stop()
    return top / 2**20, seconds


def measure() -> list[Row]:
    from chalicelib import aws
    from chalicelib.adapters.storage import MediaStore
    from chalicelib.local.embedded_aws import moto_server

    with moto_server() as endpoint:
        os.environ["AWS_ENDPOINT_URL"] = endpoint
        aws.reset_clients()
        s3 = aws.s3()
        s3.create_bucket(Bucket="bench-media")
        store = MediaStore("bench-media")
        store.put("warm-up", io.BytesIO(b"x"), "video/mp4", {})
        ours, ours_s = peak(lambda body: store.put("videos/ours.mp4", body, "video/mp4",
                                                   {"retention-days": "7"}))
        default, default_s = peak(lambda body: s3.upload_fileobj(body, "bench-media", "videos/default.mp4"))
        sizes = {key: s3.head_object(Bucket="bench-media", Key=key)["ContentLength"]
                 for key in ("videos/ours.mp4", "videos/default.mp4")}
    whole = all(size == SIZE for size in sizes.values())
    return [
        Row("peak memory above baseline", f"{ours:.1f} MB", f"boto3 defaults: {default:.1f} MB",
            f"{table.times(ours / default)} (goal < {GOAL_MB} MB)",
            table.verdict(ours < GOAL_MB) if whole else FAIL,
            "8 MiB parts, 4 in flight" if whole else f"stored sizes {sorted(sizes.values())}, not {SIZE}"),
        Row("time to copy 200 MB", f"{ours_s:.1f} s", f"boto3 defaults: {default_s:.1f} s",
            table.times(ours_s / default_s), detail="both with tracemalloc tracing"),
    ]


if __name__ == "__main__":
    table.main(TITLE, measure)
