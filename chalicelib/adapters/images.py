"""Reference images, checked by their bytes: the type by magic numbers, the size by the
header's dimensions (no decoding, so no pixel bomb is ever expanded), and metadata (EXIF,
XMP, text chunks: camera, place, author) dropped without re-encoding the picture.

Pure Python on purpose: an image library would weigh more than the rest of the function.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

MAX_BYTES = 10 * 1024 * 1024
MAX_PIXELS = 40_000_000  # 8K by 5K: more than any video size offered
TYPES = ("image/jpeg", "image/png", "image/webp")


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
    if len(data) > MAX_BYTES:
        raise ImageRefused("The image is larger than 10 MiB.")
    kind = sniff(data)
    if kind is None:
        raise ImageRefused("The file is not a JPEG, PNG or WebP image.")
    if declared and declared != kind:
        raise ImageRefused(f"The file was declared {declared} but is a {kind.split('/')[1].upper()} image.")
    try:
        width, height, stripped = {"image/jpeg": _jpeg, "image/png": _png, "image/webp": _webp}[kind](data)
    except (struct.error, IndexError, ValueError):
        raise ImageRefused("The image is damaged or truncated.") from None
    if width <= 0 or height <= 0:
        raise ImageRefused("The image has no size.")
    if width * height > MAX_PIXELS:
        raise ImageRefused(f"The image is {width}x{height}; at most {MAX_PIXELS // 1_000_000} megapixels.")
    return CleanImage(kind, width, height, stripped)


def _jpeg(data: bytes) -> tuple[int, int, bytes]:
    out = bytearray(data[:2])
    i, size = 2, None
    while i < len(data):
        if data[i] != 0xFF:
            raise ValueError("bad marker")
        marker = data[i + 1]
        if marker == 0xD9:  # end of image
            out += data[i:i + 2]
            break
        if marker == 0xDA:  # start of scan: the picture itself, up to the end
            out += data[i:]
            break
        length = struct.unpack(">H", data[i + 2:i + 4])[0]
        segment = data[i:i + 2 + length]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", data[i + 5:i + 9])
            size = (width, height)
        # APP1..APP13 and APP15 carry EXIF, XMP, IPTC; COM carries comments. APP0 (JFIF) and
        # APP14 (Adobe colour transform) are needed to show the picture right.
        if not (0xE1 <= marker <= 0xEF and marker != 0xEE) and marker != 0xFE:
            out += segment
        i += 2 + length
    if size is None:
        raise ValueError("no frame header")
    return size[0], size[1], bytes(out)


_PNG_DROP = {b"tEXt", b"iTXt", b"zTXt", b"eXIf", b"tIME"}


def _png(data: bytes) -> tuple[int, int, bytes]:
    width, height = struct.unpack(">II", data[16:24])
    out = bytearray(data[:8])
    i = 8
    while i < len(data):
        length = struct.unpack(">I", data[i:i + 4])[0]
        kind = data[i + 4:i + 8]
        chunk = data[i:i + 12 + length]
        if len(chunk) != 12 + length:
            raise ValueError("truncated chunk")
        if kind not in _PNG_DROP:
            out += chunk
        i += 12 + length
        if kind == b"IEND":
            break
    return width, height, bytes(out)


def _webp(data: bytes) -> tuple[int, int, bytes]:
    chunks = []
    i = 12
    width = height = 0
    while i + 8 <= len(data):
        kind = data[i:i + 4]
        length = struct.unpack("<I", data[i + 4:i + 8])[0]
        body = data[i + 8:i + 8 + length]
        if kind == b"VP8X":
            width = 1 + int.from_bytes(body[4:7], "little")
            height = 1 + int.from_bytes(body[7:10], "little")
            # Clear the EXIF and XMP flags along with the chunks themselves.
            body = bytes([body[0] & ~0x0C]) + body[1:]
        elif kind == b"VP8 " and not width:
            width, height = (v & 0x3FFF for v in struct.unpack("<HH", body[6:10]))
        elif kind == b"VP8L" and not width:
            bits = int.from_bytes(body[1:5], "little")
            width, height = (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
        if kind not in (b"EXIF", b"XMP "):
            chunks.append(kind + struct.pack("<I", length) + body + (b"\x00" if length % 2 else b""))
        i += 8 + length + (length % 2)
    payload = b"WEBP" + b"".join(chunks)
    return width, height, b"RIFF" + struct.pack("<I", len(payload)) + payload
