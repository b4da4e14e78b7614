"""Render time of the local video provider for a 4 s video at 720x1280, as the provider runs
it: `python -m chalicelib.local.renderer JOB_DIR`, a fresh process per video (its imports of
av, numpy and pillow included), median of RUNS runs, beside the video's own length.

    make bench        (or: .venv/bin/python bench/render.py)
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench import table
from bench.table import FAIL, Row

ROOT = Path(__file__).resolve().parents[1]
TITLE = "local video provider (chalicelib/local/renderer.py)"
RUNS = 3
SECONDS, SIZE = 4, "720x1280"


def render_once(job_dir: Path) -> float:
    job_dir.mkdir()
    (job_dir / "request.json").write_text(json.dumps(
        {"prompt": "A red fox in fresh snow, slow pan", "seconds": SECONDS, "size": SIZE}))
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "chalicelib.local.renderer", str(job_dir)], cwd=ROOT,
                   capture_output=True, check=True)
    return time.perf_counter() - started


def measure() -> list[Row]:
    with tempfile.TemporaryDirectory() as tmp:
        try:
            samples = [render_once(Path(tmp) / f"job-{n}") for n in range(RUNS)]
        except subprocess.CalledProcessError as exc:
            return [Row(f"render {SECONDS} s at {SIZE}", "-", verdict=FAIL,
                        detail=exc.stderr.decode(errors="replace").strip().splitlines()[-1])]
        video = Path(tmp) / "job-0" / "video.mp4"
        megabytes = video.stat().st_size / 2**20
    seconds = statistics.median(samples)
    return [Row(f"render {SECONDS} s at {SIZE}", f"{seconds:.2f} s", f"the video's length: {SECONDS:.1f} s",
                f"{table.times(seconds / SECONDS)} real time", detail=f"H.264, {megabytes:.1f} MB; process "
                f"start and imports included")]


if __name__ == "__main__":
    table.main(TITLE, measure)
