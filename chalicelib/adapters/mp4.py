"""An MP4's duration from its `moov/mvhd` box, read by byte ranges: no ffmpeg in Lambda.

An MP4 is a run of boxes (ISO/IEC 14496-12 §4.2): a 4-byte big-endian size, a 4-byte type, a
64-bit size after the type when the size is 1, and "to the end of the file" when it is 0. The
file starts with `ftyp`; `moov` holds `mvhd`, whose timescale and duration give the length. An
encoder may write `moov` after the media data, so the boxes are walked by their headers alone
(16 bytes each), never read whole.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator

# (offset, length) -> at most that many bytes of the file from that offset.
ReadRange = Callable[[int, int], bytes]

# A real file has a handful of top-level boxes; a crafted one could hold millions of tiny ones.
_MAX_BOXES = 256


class NotMP4(ValueError):
    """Raised when the bytes are not an MP4 whose duration can be read."""


def duration_seconds(read: ReadRange, size: int) -> float:
    boxes = _boxes(read, 0, size)
    first = next(boxes, None)
    if first is None or first[0] != b"ftyp":
        raise NotMP4("the file does not start with an MP4 'ftyp' box")
    moov = _find(boxes, b"moov")
    mvhd = _find(_boxes(read, moov[1], moov[2]), b"mvhd")
    header = read(mvhd[1], 32)
    if not header:
        raise NotMP4("the 'mvhd' box is empty")
    # version 1: creation and modification times of 8 bytes, then timescale (4) and duration (8);
    # version 0: 4-byte times, timescale (4) and duration (4). Both after version and flags (4).
    layout, start = (">IQ", 20) if header[0] == 1 else (">II", 12)
    end = start + struct.calcsize(layout)
    if len(header) < end or mvhd[2] - mvhd[1] < end:
        raise NotMP4("the 'mvhd' box is cut short")
    timescale, duration = struct.unpack(layout, header[start:end])
    if timescale == 0:
        raise NotMP4("the 'mvhd' box has a timescale of zero")
    return duration / timescale


def _find(boxes: Iterator[tuple[bytes, int, int]], kind: bytes) -> tuple[bytes, int, int]:
    for box in boxes:
        if box[0] == kind:
            return box
    raise NotMP4(f"no '{kind.decode()}' box")


def _boxes(read: ReadRange, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """(type, payload start, box end) of each box from start to end."""
    offset = start
    for _ in range(_MAX_BOXES):
        if offset + 8 > end:
            return
        header = read(offset, 16)
        if len(header) < 8:
            raise NotMP4("a box header is cut short")
        size, kind = struct.unpack(">I4s", header[:8])
        header_size = 8
        if size == 1:
            if len(header) < 16:
                raise NotMP4("a box header is cut short")
            (size,) = struct.unpack(">Q", header[8:16])
            header_size = 16
        elif size == 0:
            size = end - offset
        if size < header_size or offset + size > end:
            raise NotMP4(f"the '{kind.decode(errors='replace')}' box runs past its end")
        yield kind, offset + header_size, offset + size
        offset += size
    raise NotMP4(f"more than {_MAX_BOXES} boxes")
