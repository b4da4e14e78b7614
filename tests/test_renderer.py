"""The local renderer: real, playable H.264 files made from the prompt alone."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from chalicelib.local.renderer import InvalidRequestError, RenderRequest, Scene, main, render

PROJECT_ROOT = Path(__file__).resolve().parents[1]
PROMPT = "A paper boat drifting down a rainy street at dusk"
# Small frames keep each render well under a second.
SMALL = {"seconds": 2, "width": 160, "height": 288}


def _mean_difference(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).mean())


def _top_level_boxes(video: Path) -> list[str]:
    """The MP4 box types in file order, e.g. ["ftyp", "moov", "mdat"]."""
    data = video.read_bytes()
    boxes, offset = [], 0
    while offset < len(data):
        size = int.from_bytes(data[offset : offset + 4], "big")
        boxes.append(data[offset + 4 : offset + 8].decode("ascii"))
        if size == 1:  # a 64-bit size follows the type
            size = int.from_bytes(data[offset + 8 : offset + 16], "big")
        offset += size
    return boxes


def _write_request(job_dir: Path, payload: object) -> None:
    job_dir.mkdir(parents=True, exist_ok=True)
    (job_dir / "request.json").write_text(json.dumps(payload), encoding="utf-8")


def _state(job_dir: Path) -> dict[str, object]:
    return json.loads((job_dir / "state.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list[int]]:
    progress: list[int] = []
    video, thumbnail = render(
        RenderRequest(PROMPT, **SMALL), tmp_path_factory.mktemp("render"), progress.append
    )
    return video, thumbnail, progress


def test_video_has_requested_duration_and_size(rendered: tuple[Path, Path, list[int]]) -> None:
    video, _, _ = rendered
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert (stream.width, stream.height) == (SMALL["width"], SMALL["height"])
        assert stream.format.name == "yuv420p"
        assert stream.average_rate == 24
        assert float(stream.duration * stream.time_base) == pytest.approx(
            SMALL["seconds"], abs=1 / 24
        )
        assert sum(1 for _ in container.decode(stream)) == SMALL["seconds"] * 24


def test_video_index_comes_before_media_so_browsers_can_stream_it(
    rendered: tuple[Path, Path, list[int]],
) -> None:
    boxes = _top_level_boxes(rendered[0])
    assert boxes.index("moov") < boxes.index("mdat")


def test_thumbnail_is_webp_of_the_video_size(rendered: tuple[Path, Path, list[int]]) -> None:
    with Image.open(rendered[1]) as thumbnail:
        assert thumbnail.format == "WEBP"
        assert thumbnail.size == (SMALL["width"], SMALL["height"])


def test_thumbnail_of_a_large_video_fits_in_640_pixels(tmp_path: Path) -> None:
    # Two frames a second keep a full-size render cheap.
    request = RenderRequest(PROMPT, seconds=1, width=1792, height=1024, fps=2)
    _, thumbnail = render(request, tmp_path)
    with Image.open(thumbnail) as image:
        assert image.format == "WEBP"
        assert image.size == (640, 366)


def test_progress_is_reported_and_ends_at_100(rendered: tuple[Path, Path, list[int]]) -> None:
    progress = rendered[2]
    assert progress[0] == 0
    assert progress[-1] == 100
    assert progress == sorted(progress)
    assert all(isinstance(percent, int) for percent in progress)
    # Reported in steps, not per frame; only the final 99 -> 100 may be a smaller step.
    assert all(b - a >= 2 for a, b in itertools.pairwise(progress[:-1]))
    assert len(progress) <= 52


def test_no_temporary_files_are_left_behind(rendered: tuple[Path, Path, list[int]]) -> None:
    assert sorted(path.name for path in rendered[0].parent.iterdir()) == [
        "thumbnail.webp",
        "video.mp4",
    ]


def test_same_prompt_gives_same_pictures_and_another_prompt_differs() -> None:
    # The pictures handed to the encoder are compared, not decoded frames: multithreaded x264
    # is not bit-exact from run to run on a busy machine.
    request = RenderRequest(PROMPT, **SMALL)
    first, again = Scene(request), Scene(request)
    other = Scene(RenderRequest("A lighthouse in a storm", **SMALL))
    for t in (0.0, 0.75, 1.5):
        picture = np.asarray(first.frame(t), dtype=np.int16)
        assert np.array_equal(picture, np.asarray(again.frame(t), dtype=np.int16))
        assert _mean_difference(picture, np.asarray(other.frame(t), dtype=np.int16)) > 5


def test_picture_moves_over_time(rendered: tuple[Path, Path, list[int]]) -> None:
    with av.open(str(rendered[0])) as container:
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    assert _mean_difference(frames[0].astype(np.int16), frames[-1].astype(np.int16)) > 2


@pytest.mark.parametrize(
    "prompt",
    [
        "日本語のプロンプト、空白なしでとても長い文章になるように続けてみます" * 20,
        "Emoji 🦊❄️👨‍👩‍👧 and RTL שלום مرحبا",
        "tabs\tnew\nlines\x00and control chars",
        "https://example.com/" + "a" * 500,
    ],
)
def test_unicode_and_awkward_prompts_render(tmp_path: Path, prompt: str) -> None:
    video, thumbnail = render(RenderRequest(prompt, seconds=1, width=128, height=128), tmp_path)
    assert video.stat().st_size > 0
    assert thumbnail.stat().st_size > 0


@pytest.mark.parametrize(
    "changes",
    [
        {"prompt": ""},
        {"prompt": "  \n "},
        {"seconds": 0},
        {"seconds": 21},
        {"seconds": True},
        {"width": 161},
        {"width": 62},
        {"height": 1922},
        {"fps": 0},
    ],
)
def test_request_outside_the_limits_is_rejected(changes: dict[str, object]) -> None:
    fields: dict[str, object] = {"prompt": PROMPT, **SMALL, **changes}
    with pytest.raises(InvalidRequestError):
        RenderRequest(**fields)  # type: ignore[arg-type]


def test_cli_writes_completed_state_after_files(tmp_path: Path) -> None:
    job_dir = tmp_path / "job"
    _write_request(job_dir, {"prompt": PROMPT, "seconds": 2, "size": "160x288"})
    process = subprocess.Popen(
        [sys.executable, "-m", "chalicelib.local.renderer", str(job_dir)],
        cwd=PROJECT_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    seen: list[dict[str, object]] = []
    # Poll like the API does: every read must parse (no half-written state), and "completed"
    # must never be visible before both files are in place.
    while process.poll() is None:
        if (job_dir / "state.json").exists():
            seen.append(_state(job_dir))
            if seen[-1]["status"] == "completed":
                assert (job_dir / "video.mp4").is_file()
                assert (job_dir / "thumbnail.webp").is_file()
        time.sleep(0.005)
    _, stderr = process.communicate()
    assert process.returncode == 0, stderr.decode()
    assert _state(job_dir) == {"status": "completed", "progress": 100}
    percentages = [state["progress"] for state in seen]
    assert percentages, "the render finished before its progress could be observed"
    assert percentages == sorted(percentages)
    assert sorted(path.name for path in job_dir.iterdir()) == [
        "request.json",
        "state.json",
        "thumbnail.webp",
        "video.mp4",
    ]


@pytest.mark.parametrize(
    ("request_json", "error_fragment"),
    [
        ("{not json", "not valid JSON"),
        ('["a list"]', "JSON object"),
        ('{"prompt": "x", "seconds": 4}', "missing size"),
        ('{"prompt": "", "seconds": 4, "size": "720x1280"}', "prompt"),
        ('{"prompt": "x", "seconds": "4", "size": "720x1280"}', "seconds"),
        ('{"prompt": "x", "seconds": 4, "size": "720x1281"}', "height must be even"),
        ('{"prompt": "x", "seconds": 4, "size": "big"}', "size must look like"),
        ('{"prompt": "x", "seconds": 4, "size": "4000x4000"}', "width"),
    ],
)
def test_cli_reports_failure_for_bad_request(
    tmp_path: Path, request_json: str, error_fragment: str
) -> None:
    (tmp_path / "request.json").write_text(request_json, encoding="utf-8")
    assert main([str(tmp_path)]) == 1
    state = _state(tmp_path)
    assert state["status"] == "failed"
    assert state["progress"] == 0
    assert error_fragment in str(state["error"])
    assert not (tmp_path / "video.mp4").exists()


def test_cli_reports_failure_when_request_is_missing(tmp_path: Path) -> None:
    assert main([str(tmp_path)]) == 1
    state = _state(tmp_path)
    assert state["status"] == "failed"
    assert "request.json" in str(state["error"])
