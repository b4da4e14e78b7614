"""Stand-ins for what has no local twin: a video model whose answers a test decides."""

from __future__ import annotations

import io
import struct
import uuid
from collections.abc import Callable

from chalicelib.adapters.video import ProviderStatus


def box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def tiny_mp4(seconds: float, moov_last: bool = False, version: int = 0) -> bytes:
    """The boxes an MP4's length is read from (ftyp, mdat, moov/mvhd), at a timescale of 1000."""
    timescale, duration = 1000, round(seconds * 1000)
    if version == 1:
        mvhd = bytes([1, 0, 0, 0]) + struct.pack(">QQIQ", 0, 0, timescale, duration) + bytes(80)
    else:
        mvhd = bytes(4) + struct.pack(">IIII", 0, 0, timescale, duration) + bytes(80)
    ftyp = box(b"ftyp", b"isom\x00\x00\x02\x00isomiso2mp41")
    moov = box(b"moov", box(b"mvhd", mvhd))
    mdat = box(b"mdat", bytes(2048))
    return ftyp + mdat + moov if moov_last else ftyp + moov + mdat


class ScriptedProvider:
    """A video model whose answers the test decides; it counts what it was asked."""

    def __init__(self, name: str = "scripted") -> None:
        self.name = name
        self.created: list[str] = []
        self.submissions: list = []
        self.references: list = []
        self.deleted: list[str] = []
        self.status = ProviderStatus("in_progress", 40)
        self.create_error: Exception | None = None
        self.seconds: dict[str, int] = {}
        # None: an MP4 of the length asked for. Bytes: exactly these (garbage, too short ...).
        self.video: bytes | None = None
        self.gives_thumbnail = True
        # Runs as each download starts (for example, waits on an Event while another check runs).
        self.before_download: Callable[[str], None] | None = None

    def create(self, submission):
        self.submissions.append(submission)
        self.references.append(submission.start_image)
        if self.create_error:
            raise self.create_error
        provider_job_id = f"scripted_{uuid.uuid4().hex}"
        self.created.append(provider_job_id)
        self.seconds[provider_job_id] = submission.spec.seconds
        return provider_job_id

    def retrieve(self, provider_job_id):
        return self.status

    def open_content(self, provider_job_id, variant):
        if self.before_download:
            self.before_download(variant)
        if variant == "thumbnail":
            return io.BytesIO(b"RIFF webp") if self.gives_thumbnail else None
        if self.video is not None:
            return io.BytesIO(self.video)
        return io.BytesIO(tiny_mp4(self.seconds.get(provider_job_id, 4)))

    def delete(self, provider_job_id):
        self.deleted.append(provider_job_id)
