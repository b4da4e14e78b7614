"""Local stand-in for the hosted video model: renders a real H.264 MP4 and a WebP thumbnail.

The output is derived only from the prompt (colours, motion and caption), so local development
gets playable, distinguishable videos without a network connection or an API key.

This module pulls in av, numpy and pillow at import time. The Lambda code must never import it;
the local development server runs it in a subprocess:

    python -m chalicelib.local.renderer JOB_DIR

JOB_DIR/request.json holds {"prompt": str, "seconds": int, "size": "WxH"}. The renderer keeps
JOB_DIR/state.json current and, on success, leaves JOB_DIR/video.mp4 and JOB_DIR/thumbnail.webp.
"""

from __future__ import annotations

import argparse
import colorsys
import contextlib
import hashlib
import json
import math
import os
import re
import sys
import traceback
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
from av.video.reformatter import ColorPrimaries, ColorRange, Colorspace, ColorTrc
from PIL import Image, ImageDraw, ImageFont

VIDEO_NAME = "video.mp4"
THUMBNAIL_NAME = "thumbnail.webp"
REQUEST_NAME = "request.json"
STATE_NAME = "state.json"

MIN_SECONDS, MAX_SECONDS = 1, 20
MIN_SIDE, MAX_SIDE = 64, 1920
MIN_FPS, MAX_FPS = 1, 60

LABEL = "AISora2 local preview"
THUMBNAIL_MAX_SIDE = 640
THUMBNAIL_QUALITY = 80
X264_OPTIONS = {"preset": "veryfast", "crf": "26"}

# The background is smooth, so it is computed on a grid this many times coarser and upscaled;
# that keeps the per-frame numpy work negligible next to the encoder.
BACKGROUND_DOWNSCALE = 4
BLOB_COUNT = 5
CAPTION_MAX_HEIGHT_SHARE = 0.38
ERROR_MAX_CHARS = 300

_SIZE_PATTERN = re.compile(r"(\d{1,5})x(\d{1,5})")

# Pillow's bundled font has little beyond ASCII, so "läuft" would show a box; a common system
# font (Linux, macOS, Windows) covers accented Latin, Greek and Cyrillic when one is installed.
_FONT_FILES = ("DejaVuSans.ttf", "Arial Unicode.ttf", "arial.ttf")

_Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


class InvalidRequestError(ValueError):
    """The render request cannot be rendered as given; the message is meant for the user."""


@dataclass(frozen=True)
class RenderRequest:
    prompt: str
    seconds: int
    width: int
    height: int
    fps: int = 24

    def __post_init__(self) -> None:
        if not isinstance(self.prompt, str) or not self.prompt.strip():
            raise InvalidRequestError("prompt must be a non-empty string")
        _require_int_in_range("seconds", self.seconds, MIN_SECONDS, MAX_SECONDS)
        _require_int_in_range("fps", self.fps, MIN_FPS, MAX_FPS)
        for name, side in (("width", self.width), ("height", self.height)):
            _require_int_in_range(name, side, MIN_SIDE, MAX_SIDE)
            # yuv420p subsamples chroma 2x2, so odd sides cannot be encoded.
            if side % 2:
                raise InvalidRequestError(f"{name} must be even, got {side}")

    @property
    def frame_count(self) -> int:
        return self.seconds * self.fps


def _require_int_in_range(name: str, value: object, low: int, high: int) -> None:
    # bool is an int subclass, but `true` in a request is a mistake rather than 1.
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidRequestError(f"{name} must be an integer from {low} to {high}, got {value!r}")


def render(
    request: RenderRequest,
    out_dir: Path,
    on_progress: Callable[[int], None] | None = None,
) -> tuple[Path, Path]:
    """Writes out_dir/video.mp4 and out_dir/thumbnail.webp; returns their paths.

    on_progress receives whole percentages 0..100, non-decreasing, at most once per 2% step;
    100 is reported only once both files are in place.
    """
    report = on_progress or (lambda _percent: None)
    out_dir.mkdir(parents=True, exist_ok=True)
    video_path = out_dir / VIDEO_NAME
    thumbnail_path = out_dir / THUMBNAIL_NAME
    video_part = _part_path(video_path)
    thumbnail_part = _part_path(thumbnail_path)
    try:
        report(0)
        scene = Scene(request)
        _encode_video(request, scene, video_part, report)
        # Frames are a pure function of time, so re-rendering the middle one is exact and
        # cheaper than holding on to it during encoding.
        middle = scene.frame((request.frame_count // 2) / request.fps)
        middle.thumbnail((THUMBNAIL_MAX_SIDE, THUMBNAIL_MAX_SIDE), Image.Resampling.LANCZOS)
        middle.save(thumbnail_part, format="WEBP", quality=THUMBNAIL_QUALITY)
        # Both files are complete before either becomes visible under its final name.
        os.replace(video_part, video_path)
        os.replace(thumbnail_part, thumbnail_path)
    finally:
        video_part.unlink(missing_ok=True)
        thumbnail_part.unlink(missing_ok=True)
    report(100)
    return video_path, thumbnail_path


def _encode_video(
    request: RenderRequest,
    scene: Scene,
    path: Path,
    report: Callable[[int], None],
) -> None:
    total = request.frame_count
    frame_time_base = Fraction(1, request.fps)
    reported = 0
    # The name ends in ".part", so the muxer cannot guess the format from it.
    with av.open(
        str(path), mode="w", format="mp4", options={"movflags": "+faststart"}
    ) as container:
        stream = container.add_stream("libx264", rate=request.fps, options=X264_OPTIONS)
        stream.width = request.width
        stream.height = request.height
        stream.pix_fmt = "yuv420p"
        codec = stream.codec_context
        codec.time_base = frame_time_base
        # PyAV asks x264 for slice threading by default; frame threading encodes ~20% faster.
        codec.thread_type = "AUTO"
        # Convert with the BT.709 matrix and say so in the stream; untagged video leaves
        # browsers guessing between BT.601 and BT.709 and shifts the hues.
        codec.colorspace = Colorspace.ITU709
        codec.color_primaries = ColorPrimaries.BT709
        codec.color_trc = ColorTrc.BT709
        codec.color_range = ColorRange.MPEG
        for index in range(total):
            image = scene.frame(index / request.fps)
            frame = av.VideoFrame.from_ndarray(np.asarray(image), format="rgb24")
            frame = frame.reformat(format="yuv420p", dst_colorspace=Colorspace.ITU709)
            frame.pts = index
            frame.time_base = frame_time_base
            container.mux(stream.encode(frame))
            # 99 at most: 100 means the files are in place, which happens after this loop.
            percent = (index + 1) * 99 // total
            if percent - reported >= 2:
                reported = percent
                report(percent)
        container.mux(stream.encode(None))


class Scene:
    """Everything about the picture that depends only on the request, computed once.

    Per frame only the coarse background is recomputed; the caption and label are pasted from
    precomputed RGBA layers, because drawing text with PIL on every frame would dominate the
    render time.
    """

    def __init__(self, request: RenderRequest) -> None:
        self.size = (request.width, request.height)
        rng = np.random.default_rng(_prompt_seed(request.prompt))
        short_side = min(request.width, request.height)

        # Coordinates are in units of the short side so that circles stay round in any aspect.
        self._extent = (request.width / short_side, request.height / short_side)
        self._x = _sample_centres(request.width, self._extent[0])[np.newaxis, :]
        self._y = _sample_centres(request.height, self._extent[1])[:, np.newaxis]
        # Darkening the corners frames the picture and keeps the caption area calm.
        centre_x, centre_y = self._extent[0] / 2, self._extent[1] / 2
        distance = np.sqrt((self._x - centre_x) ** 2 + (self._y - centre_y) ** 2)
        self._vignette = (1.0 - 0.45 * (distance / math.hypot(centre_x, centre_y)) ** 2)[
            ..., np.newaxis
        ].astype(np.float32)

        base_hue = float(rng.random())
        hue_step = float(rng.uniform(0.08, 0.22))
        # Dark backdrop colours keep the white caption legible; the blobs add the light.
        self._colour_a = _hsv(base_hue, rng.uniform(0.55, 0.8), rng.uniform(0.22, 0.35))
        self._colour_b = _hsv(base_hue + hue_step, rng.uniform(0.55, 0.8), rng.uniform(0.35, 0.5))
        self._gradient_angle = float(rng.uniform(0, 2 * math.pi))
        # Radians per second of gradient drift, in either direction.
        self._gradient_drift = float(rng.uniform(0.25, 0.55) * rng.choice([-1.0, 1.0]))
        self._blobs = [_Blob.random(rng, base_hue, self._extent) for _ in range(BLOB_COUNT)]

        self._layers = _text_layers(request.prompt, request.width, request.height)

    def frame(self, t: float) -> Image.Image:
        # A slow wobble of the gradient direction plus a drifting phase makes the colours flow.
        angle = self._gradient_angle + 0.35 * math.sin(0.4 * t)
        projection = self._x * math.cos(angle) + self._y * math.sin(angle)
        mix = 0.5 + 0.5 * np.sin(1.6 * projection + self._gradient_drift * t)
        mix = mix[..., np.newaxis]
        picture = self._colour_a + (self._colour_b - self._colour_a) * mix
        for blob in self._blobs:
            centre_x, centre_y = blob.centre(t)
            # A Gaussian is separable: two 1-D exponentials instead of one over the whole grid.
            across = blob.strength * np.exp(-((self._x - centre_x) ** 2) / blob.radius2)
            down = np.exp(-((self._y - centre_y) ** 2) / blob.radius2)
            picture += (blob.colour - picture) * (down * across)[..., np.newaxis]
        picture *= self._vignette
        # Every step blends colours within [0, 1], so rounding cannot leave the uint8 range.
        coarse = (picture * 255.0 + 0.5).astype(np.uint8)
        image = Image.fromarray(coarse).resize(self.size, Image.Resampling.BILINEAR)
        for layer, position in self._layers:
            image.paste(layer, position, layer)
        return image


@dataclass(frozen=True)
class _Blob:
    colour: np.ndarray
    radius2: float
    strength: float
    anchor: tuple[float, float]
    amplitude: tuple[float, float]
    frequency: tuple[float, float]
    phase: tuple[float, float]

    @classmethod
    def random(
        cls, rng: np.random.Generator, base_hue: float, extent: tuple[float, float]
    ) -> _Blob:
        hue = base_hue + float(rng.choice([0.0, 0.1, 0.5, 0.6])) + float(rng.uniform(-0.04, 0.04))
        radius = float(rng.uniform(0.18, 0.42))
        return cls(
            colour=_hsv(hue, rng.uniform(0.45, 0.8), rng.uniform(0.7, 0.95)),
            radius2=radius * radius,
            strength=float(rng.uniform(0.45, 0.8)),
            anchor=(
                float(rng.uniform(0.2, 0.8)) * extent[0],
                float(rng.uniform(0.15, 0.7)) * extent[1],
            ),
            amplitude=(
                float(rng.uniform(0.1, 0.3)) * extent[0],
                float(rng.uniform(0.1, 0.3)) * extent[1],
            ),
            # Periods of roughly 5..15 s: visible motion even in a 1 s clip, never jittery.
            frequency=(float(rng.uniform(0.4, 1.2)), float(rng.uniform(0.4, 1.2))),
            phase=(float(rng.uniform(0, 2 * math.pi)), float(rng.uniform(0, 2 * math.pi))),
        )

    def centre(self, t: float) -> tuple[float, float]:
        return (
            self.anchor[0] + self.amplitude[0] * math.sin(self.frequency[0] * t + self.phase[0]),
            self.anchor[1] + self.amplitude[1] * math.sin(self.frequency[1] * t + self.phase[1]),
        )


def _sample_centres(pixels: int, extent: float) -> np.ndarray:
    """Positions of the coarse background samples along one side spanning 0..extent."""
    samples = -(-pixels // BACKGROUND_DOWNSCALE)
    return (np.arange(samples, dtype=np.float32) + 0.5) * np.float32(extent / samples)


def _hsv(hue: float, saturation: float, value: float) -> np.ndarray:
    return np.array(colorsys.hsv_to_rgb(hue % 1.0, saturation, value), dtype=np.float32)


def _prompt_seed(prompt: str) -> int:
    # hash() is salted per process; the same prompt must give the same video in every run.
    return int.from_bytes(hashlib.sha256(prompt.encode("utf-8")).digest()[:8], "big")


def _text_layers(prompt: str, width: int, height: int) -> list[tuple[Image.Image, tuple[int, int]]]:
    """Returns the caption band and the label as RGBA images with their paste positions."""
    short_side = min(width, height)
    margin = max(4, round(short_side * 0.06))
    font_size = max(10, round(short_side * 0.045))
    font = _font(font_size)
    line_height = round(font_size * 1.3)
    max_lines = max(1, int(height * CAPTION_MAX_HEIGHT_SHARE) // line_height)
    lines = _wrap(_printable(prompt), font, width - 2 * margin, max_lines)

    padding = round(font_size * 0.8)
    band_height = len(lines) * line_height + padding * 2 + margin
    band_top = height - band_height
    # The band fades in over its top padding so it reads as a scrim rather than a box.
    band_alpha = np.full((band_height, width), 150, dtype=np.float32)
    band_alpha[:padding] *= np.linspace(0.0, 1.0, padding, dtype=np.float32)[:, np.newaxis]
    band = Image.new("RGBA", (width, band_height), (0, 0, 0, 0))
    band.putalpha(Image.fromarray(band_alpha.astype(np.uint8)))
    text = Image.new("RGBA", band.size, (255, 255, 255, 0))
    draw = ImageDraw.Draw(text)
    shadow_offset = max(1, font_size // 16)
    for number, line in enumerate(lines):
        position = (margin, padding + number * line_height)
        shadow = (position[0] + shadow_offset, position[1] + shadow_offset)
        draw.text(shadow, line, font=font, fill=(0, 0, 0, 170))
        draw.text(position, line, font=font, fill=(255, 255, 255, 255))
    caption = Image.alpha_composite(band, text)

    label_size = max(8, round(font_size * 0.6))
    label_font = _font(label_size)
    left, top, right, bottom = label_font.getbbox(LABEL)
    pad_x, pad_y = max(3, label_size // 2), max(2, label_size // 3)
    label = Image.new("RGBA", (right - left + 2 * pad_x, bottom - top + 2 * pad_y), (0, 0, 0, 0))
    label_draw = ImageDraw.Draw(label)
    label_draw.rounded_rectangle(
        (0, 0, label.width - 1, label.height - 1), radius=label.height // 2, fill=(0, 0, 0, 120)
    )
    label_draw.text((pad_x - left, pad_y - top), LABEL, font=label_font, fill=(255, 255, 255, 220))
    label_margin = max(3, margin // 2)
    return [(caption, (0, band_top)), (label, (label_margin, label_margin))]


def _font(size: int) -> _Font:
    for name in _FONT_FILES:
        with contextlib.suppress(OSError):
            return ImageFont.truetype(name, size)
    return ImageFont.load_default(size=size)


def _printable(prompt: str) -> str:
    # Control characters would be drawn as boxes; the caption is a single flowing paragraph.
    cleaned = "".join(" " if unicodedata.category(char) == "Cc" else char for char in prompt)
    return " ".join(cleaned.split())


def _wrap(text: str, font: _Font, max_width: int, max_lines: int) -> list[str]:
    """Greedy word wrap; words wider than a line (URLs, CJK without spaces) break anywhere."""
    lines: list[str] = []
    current = ""
    for word in text.split(" "):
        candidate = f"{current} {word}" if current else word
        if font.getlength(candidate) <= max_width:
            current = candidate
            continue
        if current:
            lines.append(current)
        current = word
        if font.getlength(word) > max_width:
            current = ""
            for char in word:
                if current and font.getlength(current + char) > max_width:
                    lines.append(current)
                    current = ""
                current += char
        # Enough to know the caption overflows; the rest of a long prompt is never shown.
        if len(lines) > max_lines:
            break
    if current:
        lines.append(current)
    if len(lines) <= max_lines:
        return lines
    last = lines[max_lines - 1]
    while last and font.getlength(last + "…") > max_width:
        last = last[:-1]
    return [*lines[: max_lines - 1], last.rstrip() + "…"]


def _part_path(path: Path) -> Path:
    # A hidden sibling in the same directory, so os.replace is an atomic rename.
    return path.with_name(f".{path.name}.part")


def _write_json_atomically(path: Path, payload: dict[str, Any]) -> None:
    part = _part_path(path)
    try:
        part.write_text(json.dumps(payload), encoding="utf-8")
        os.replace(part, path)
    finally:
        part.unlink(missing_ok=True)


def _load_request(path: Path) -> RenderRequest:
    """Reads and validates a job's request.json."""
    try:
        raw = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidRequestError(f"cannot read {path.name}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise InvalidRequestError(f"{path.name} is not UTF-8 text") from exc
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InvalidRequestError(f"{path.name} is not valid JSON: {exc.msg}") from exc
    if not isinstance(data, dict):
        raise InvalidRequestError(f"{path.name} must hold a JSON object")
    missing = [key for key in ("prompt", "seconds", "size") if key not in data]
    if missing:
        raise InvalidRequestError(f"{path.name} is missing {', '.join(missing)}")
    size = data["size"]
    match = _SIZE_PATTERN.fullmatch(size) if isinstance(size, str) else None
    if match is None:
        raise InvalidRequestError(f"size must look like '720x1280', got {size!r}")
    return RenderRequest(
        prompt=data["prompt"],
        seconds=data["seconds"],
        width=int(match.group(1)),
        height=int(match.group(2)),
    )


def _error_message(exc: Exception) -> str:
    message = str(exc) if isinstance(exc, InvalidRequestError) else f"{type(exc).__name__}: {exc}"
    if len(message) > ERROR_MAX_CHARS:
        message = message[: ERROR_MAX_CHARS - 1] + "…"
    return message


def main(argv: list[str] | None = None) -> int:
    """Renders the job in the given directory, keeping its state.json current; 0 on success."""
    parser = argparse.ArgumentParser(
        prog="python -m chalicelib.local.renderer",
        description="Render a local preview video for the job described by JOB_DIR/request.json.",
    )
    parser.add_argument("job_dir", type=Path, help="directory holding request.json")
    job_dir: Path = parser.parse_args(argv).job_dir
    if not job_dir.is_dir():
        print(f"renderer: job directory not found: {job_dir}", file=sys.stderr)
        return 1
    state_path = job_dir / STATE_NAME
    progress = 0

    def on_progress(percent: int) -> None:
        nonlocal progress
        progress = percent
        _write_json_atomically(state_path, {"status": "in_progress", "progress": percent})

    try:
        render(_load_request(job_dir / REQUEST_NAME), job_dir, on_progress)
    except Exception as exc:
        # The traceback goes to stderr for whoever captures the subprocess; state.json gets
        # the short version for the API response.
        traceback.print_exc()
        _write_json_atomically(
            state_path, {"status": "failed", "progress": progress, "error": _error_message(exc)}
        )
        return 1
    _write_json_atomically(state_path, {"status": "completed", "progress": 100})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
