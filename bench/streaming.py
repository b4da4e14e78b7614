"""Peak memory of copying a 200 MB provider result into S3 (moto): the worker streams it in
multipart parts, so memory stays bounded whatever the size. Goal: under 64 MB above baseline.

    make bench        (or: .venv/bin/python bench/streaming.py)
"""

from __future__ import annotations

import io
import os
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.update({"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x", "AWS_DEFAULT_REGION": "us-east-1"})

SIZE = 200 * 1024 * 1024


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


def main() -> None:
    from chalicelib.local.embedded_aws import moto_server

    # moto in its own process, so that its copy of the object is not counted as ours.
    with moto_server() as endpoint:
        os.environ["AWS_ENDPOINT_URL"] = endpoint
        measure()


def measure() -> None:
    from chalicelib import aws
    from chalicelib.adapters.storage import MediaStore

    aws.reset_clients()
    aws.s3().create_bucket(Bucket="bench-media")
    store = MediaStore("bench-media")
    store.put("warm-up", io.BytesIO(b"x"), "video/mp4", {})
    tracemalloc.start()
    baseline = tracemalloc.get_traced_memory()[0]
    started = time.perf_counter()
    store.put("videos/bench/video.mp4", io.BufferedReader(Result(SIZE), 1024 * 1024), "video/mp4",
              {"retention-days": "7"})
    seconds = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1] - baseline
    tracemalloc.stop()
    size = aws.s3().head_object(Bucket="bench-media", Key="videos/bench/video.mp4")["ContentLength"]
    print(f"copied {size / 2**20:.0f} MB into S3 (moto server, loopback) in {seconds:.1f} s")
    print(f"peak Python memory above baseline: {peak / 2**20:.1f} MB (goal < 64 MB)")


if __name__ == "__main__":
    main()
