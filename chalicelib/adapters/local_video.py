"""The local renderer as a video provider: each video renders in its own process on this
machine, so the caller (the queue worker) never waits for it, exactly as with a remote model.

The renderer's heavy libraries load only in that child process
(`python -m chalicelib.local.renderer DIR`); this module imports nothing heavy.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import BinaryIO

from chalicelib.adapters.video import (
    ProviderStatus,
    ProviderUnavailable,
    Submission,
    Variant,
)

_PROJECT_ROOT = Path(__file__).resolve().parents[2]
_FILES: dict[Variant, str] = {"video": "video.mp4", "thumbnail": "thumbnail.webp"}


class LocalRenderer:
    name = "local"

    def __init__(self, work_dir: Path) -> None:
        self._work_dir = work_dir

    def _dir(self, provider_job_id: str) -> Path:
        # Ids are ours (uuid hex); refuse anything else rather than join it into a path.
        if not provider_job_id.startswith("local_") or not provider_job_id[6:].isalnum():
            raise ValueError(f"not a local render id: {provider_job_id!r}")
        return self._work_dir / provider_job_id

    def create(self, submission: Submission) -> str:
        spec, reference = submission.spec, submission.start_image
        provider_job_id = f"local_{uuid.uuid4().hex}"
        job_dir = self._dir(provider_job_id)
        job_dir.mkdir(parents=True)
        (job_dir / "request.json").write_text(
            json.dumps({"prompt": spec.prompt, "seconds": spec.seconds, "size": spec.size})
        )
        (job_dir / "state.json").write_text(json.dumps({"status": "queued", "progress": 0}))
        if reference is not None:
            # Kept beside the render for inspection; the local renderer draws from the prompt only.
            (job_dir / "reference").write_bytes(reference.data)
        try:
            with open(job_dir / "render.log", "wb") as log:
                subprocess.Popen(
                    [sys.executable, "-m", "chalicelib.local.renderer", str(job_dir)],
                    cwd=_PROJECT_ROOT,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
        except OSError as exc:
            shutil.rmtree(job_dir, ignore_errors=True)
            raise ProviderUnavailable(f"could not start the local renderer: {exc}") from exc
        return provider_job_id

    def retrieve(self, provider_job_id: str) -> ProviderStatus:
        try:
            state = json.loads((self._dir(provider_job_id) / "state.json").read_text())
        except FileNotFoundError:
            return ProviderStatus("failed", 0, "the render was lost")
        return ProviderStatus(state["status"], int(state.get("progress", 0)), state.get("error"))

    def open_content(self, provider_job_id: str, variant: Variant) -> BinaryIO:
        return open(self._dir(provider_job_id) / _FILES[variant], "rb")

    def delete(self, provider_job_id: str) -> None:
        shutil.rmtree(self._dir(provider_job_id), ignore_errors=True)
