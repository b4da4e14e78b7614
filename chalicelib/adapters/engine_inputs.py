"""What the hosted engines' inputs are made of, in their common terms: an aspect ratio and a
resolution from our WIDTHxHEIGHT, and an image as a data URI (both fal and Replicate take one
wherever they take an image URL, so no image is ever put on a public address for them)."""

from __future__ import annotations

import base64
import math
from collections.abc import Callable
from typing import Any

from chalicelib.adapters.video import ProviderRefused, ReferenceImage, VideoSpec


def dimensions(size: str) -> tuple[int, int]:
    width, _, height = size.partition("x")
    if not (width.isdigit() and height.isdigit()) or int(width) == 0 or int(height) == 0:
        raise ProviderRefused(f"size {size!r} is not WIDTHxHEIGHT")
    return int(width), int(height)


def aspect_ratio(size: str) -> str:
    """ "16:9" for 1280x720 and 1920x1080, "9:16" for portrait, "1:1" for square."""
    width, height = dimensions(size)
    divisor = math.gcd(width, height)
    return f"{width // divisor}:{height // divisor}"


def resolution(size: str) -> str:
    """ "720p" for 1280x720 and 720x1280: the short side, as the engines name it."""
    return f"{min(dimensions(size))}p"


def data_uri(image: ReferenceImage) -> str:
    return f"data:{image.content_type};base64,{base64.b64encode(image.data).decode()}"


def choose(engine: str, model: str, field: str, value: str, offered: tuple[str, ...]) -> str:
    if value not in offered:
        raise ProviderRefused(
            f"{model} on {engine} does not offer {field} {value}; it offers {', '.join(offered)}"
        )
    return value


def sound_and_negative_prompt(payload: dict[str, Any], spec: VideoSpec, takes_audio: bool,
                              takes_negative_prompt: bool, refuse: Callable[[str], ProviderRefused]) -> None:
    """The two switches every engine names alike: `generate_audio` where the model has sound,
    `negative_prompt` where it takes one; asking for either where it does not is refused."""
    if takes_audio:
        payload["generate_audio"] = spec.audio
    elif spec.audio:
        raise refuse("audio")
    if spec.negative_prompt:
        if not takes_negative_prompt:
            raise refuse("a negative prompt")
        payload["negative_prompt"] = spec.negative_prompt
