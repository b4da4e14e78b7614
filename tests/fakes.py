"""Stand-ins for what has no local twin: a video model whose answers a test decides."""

from __future__ import annotations

import io
import uuid

from chalicelib.adapters.video import ProviderStatus


class ScriptedProvider:
    """A video model whose answers the test decides; it counts what it was asked."""

    name = "scripted"

    def __init__(self) -> None:
        self.created: list[str] = []
        self.submissions: list = []
        self.references: list = []
        self.deleted: list[str] = []
        self.status = ProviderStatus("in_progress", 40)
        self.create_error: Exception | None = None

    def create(self, submission):
        self.submissions.append(submission)
        self.references.append(submission.start_image)
        if self.create_error:
            raise self.create_error
        provider_job_id = f"scripted_{uuid.uuid4().hex}"
        self.created.append(provider_job_id)
        return provider_job_id

    def retrieve(self, provider_job_id):
        return self.status

    def open_content(self, provider_job_id, variant):
        return io.BytesIO(b"\x00\x00\x00\x18ftypmp42 video" if variant == "video" else b"RIFF webp")

    def delete(self, provider_job_id):
        self.deleted.append(provider_job_id)
