"""Reference images: the type told by magic numbers, the size read from the header and checked
before a single pixel is decoded (a pixel bomb is never expanded), then decoded and encoded
anew, so that nothing of the original file but its picture survives: no EXIF, XMP, comments
or text chunks (camera, place, author), no trailing bytes, no parser tricks. The picture is
turned upright by its EXIF orientation and into sRGB by its colour profile first, so it looks
as its owner saw it.

Pillow is imported when an image is handled, never with the API: most requests have none.
"""

from __future__ import annotations

import contextlib
import io
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

MAX_BYTES = 10 * 1024 * 1024
# What may be decoded: a 6000x4000 camera photo, with room. The bound is memory: a picture this
# size is 100 MB as RGBA, in a function of 512 MB.
MAX_PIXELS = 25_000_000
# The longest side kept, right after decoding: more than any video size offered (1792), and it
# bounds the memory of every step after, and the size of the copy kept.
WORKING_SIDE = 2048
# Our own cleaned copy, read back by the worker: at most 2048x2048 RGBA, PNG-encoded.
CLEAN_MAX_BYTES = 32 * 1024 * 1024
_MEGAPIXELS = MAX_PIXELS // 1_000_000
TYPES = ("image/jpeg", "image/png", "image/webp")
# Pillow's name for each type: the only decoders it may use on these bytes.
_FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP"}


class ImageRefused(Exception):
    """Raised with a reason a person can act on."""


@dataclass(frozen=True)
class CleanImage:
    content_type: str
    width: int
    height: int
    data: bytes


def sniff(data: bytes) -> str | None:
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def clean(data: bytes, declared: str | None = None) -> CleanImage:
    """Checks an image from a user and returns it encoded anew, without its metadata."""
    if len(data) > MAX_BYTES:
        raise ImageRefused("The image is larger than 10 MiB.")
    kind = sniff(data)
    if kind is None:
        raise ImageRefused("The file is not a JPEG, PNG or WebP image.")
    if declared and declared != kind:
        raise ImageRefused(f"The file was declared {declared} but is a {_FORMATS[kind]} image.")
    with _decoded(data, kind, longest=WORKING_SIDE) as picture:
        return _encode(_upright_srgb(picture), kind)


def fit(image: CleanImage | bytes, size: str) -> CleanImage:
    """The picture scaled to cover `size` ("WIDTHxHEIGHT") and cropped about its centre: a
    provider takes a reference of exactly the video's size, and a picture is never stretched."""
    from PIL import Image, ImageOps

    data = image.data if isinstance(image, CleanImage) else image
    kind = sniff(data)
    if kind is None:
        raise ImageRefused("The reference image is not a JPEG, PNG or WebP image.")
    width, height = (int(side) for side in size.split("x"))
    with _decoded(data, kind) as picture:
        if picture.size == (width, height):
            return CleanImage(kind, width, height, data)
        fitted = ImageOps.fit(_flat(picture), (width, height), method=Image.Resampling.LANCZOS)
        return _encode(fitted, kind)


@contextlib.contextmanager
def _decoded(data: bytes, kind: str, longest: int | None = None) -> Iterator[Any]:
    """The picture of `data`, decoded by `kind`'s decoder alone once its size is allowed; with
    `longest`, scaled down to it at once (a JPEG is decoded at a reduced scale to begin with)."""
    from PIL import Image

    damaged = ImageRefused("The image is damaged or truncated.")
    try:
        picture = Image.open(io.BytesIO(data), formats=[_FORMATS[kind]])
    except Image.DecompressionBombError:
        raise ImageRefused(f"The image has more than {_MEGAPIXELS} megapixels.") from None
    except _UNREADABLE:
        raise damaged from None
    with picture:
        width, height = picture.size
        if width <= 0 or height <= 0:
            raise ImageRefused("The image has no size.")
        if width * height > MAX_PIXELS:
            raise ImageRefused(f"The image is {width}x{height}; at most {_MEGAPIXELS} megapixels.")
        try:
            if longest and max(width, height) > longest:
                # JPEG only (others ignore it): decoded at the smallest scale that still covers
                # the size kept, a half, a quarter or an eighth.
                ratio = longest / max(width, height)
                picture.draft(picture.mode, (math.ceil(width * ratio), math.ceil(height * ratio)))
            picture.load()  # the first frame only, for an animated image
            if longest:
                picture.thumbnail((longest, longest), Image.Resampling.LANCZOS)  # in place
        except _UNREADABLE:
            raise damaged from None
        yield picture


# What Pillow raises for bytes it cannot read (UnidentifiedImageError is an OSError).
_UNREADABLE = (OSError, SyntaxError, ValueError, EOFError)


def _upright_srgb(picture: Any) -> Any:
    """Turned by its EXIF orientation first (the colour conversion keeps no metadata), then
    into sRGB by its colour profile."""
    from PIL import ImageOps

    upright = ImageOps.exif_transpose(picture)
    profile = upright.info.get("icc_profile")
    return _to_srgb(upright, profile) if profile else upright


def _to_srgb(picture: Any, profile: bytes) -> Any:
    from PIL import ImageCms

    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(profile))
        mode = "RGBA" if _has_alpha(picture) else "RGB"
        return ImageCms.profileToProfile(picture.convert(mode), source, ImageCms.createProfile("sRGB"),
                                         outputMode=mode)
    except (ImageCms.PyCMSError, OSError, ValueError):
        return picture  # a broken profile: the pixels as they are, the profile dropped below


def _has_alpha(picture: Any) -> bool:
    return picture.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in picture.info


def _flat(picture: Any) -> Any:
    """RGB, or RGBA where the picture has transparency; nothing carried from the file."""
    flat = picture.convert("RGBA" if _has_alpha(picture) else "RGB")
    flat.info.clear()
    return flat


def _encode(picture: Any, kind: str) -> CleanImage:
    flat = _flat(picture)
    if kind == "image/jpeg":
        flat = flat.convert("RGB")
    out = io.BytesIO()
    options: dict[str, Any] = {"image/jpeg": {"quality": 92}, "image/png": {"optimize": True},
                               "image/webp": {"quality": 90}}[kind]
    flat.save(out, _FORMATS[kind], **options)
    return CleanImage(kind, flat.width, flat.height, out.getvalue())


# A poster's longest side: enough for a card in the library, small enough to load at once.
POSTER_SIDE = 640


def poster(size: str, start_image: bytes | None, seed: str) -> bytes:
    """A WebP poster for a video whose engine gives no thumbnail: its start image fitted to the
    video's shape when it has one, else a gradient whose colours follow `seed` (the prompt), so
    videos in a library still tell apart."""
    import hashlib

    from PIL import Image

    width, height = (int(side) for side in size.split("x"))
    scale = POSTER_SIDE / max(width, height)
    shape = (max(1, round(width * scale)), max(1, round(height * scale)))
    if start_image is not None:
        picture = Image.open(io.BytesIO(fit(start_image, f"{shape[0]}x{shape[1]}").data))
    else:
        digest = hashlib.sha256(seed.encode()).digest()
        top, bottom = Image.new("RGB", shape, tuple(digest[:3])), Image.new("RGB", shape, tuple(digest[3:6]))
        fade = Image.linear_gradient("L").resize(shape)
        picture = Image.composite(bottom, top, fade)
    out = io.BytesIO()
    _flat(picture).save(out, "WEBP", quality=80)
    return out.getvalue()
