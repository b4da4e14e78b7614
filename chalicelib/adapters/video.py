"""The video provider protocol: what the generation worker needs from any video model.

Implementations: `local_video.LocalRenderer` (the default; renders on this machine) and the
OpenAI-shaped Videos API. The worker speaks only these types.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import BinaryIO, Literal, Protocol

ProviderState = Literal["queued", "in_progress", "completed", "failed"]
Variant = Literal["video", "thumbnail"]


@dataclass(frozen=True)
class VideoSpec:
    prompt: str
    model: str
    seconds: int
    size: str  # "WIDTHxHEIGHT"


@dataclass(frozen=True)
class ReferenceImage:
    data: bytes
    content_type: str


@dataclass(frozen=True)
class ProviderStatus:
    state: ProviderState
    progress: int
    error: str | None = None


class ProviderRefused(Exception):
    """Raised when the provider will never make this video (refused content, invalid input).
    Not retried; the job fails with this reason and is refunded."""


class ProviderUnavailable(Exception):
    """Raised for a failure worth retrying later (network, rate limit, the provider's 5xx)."""


class VideoProvider(Protocol):
    name: str

    def create(self, spec: VideoSpec, reference: ReferenceImage | None = None) -> str:
        """Submits the video (and its checked reference image); returns the provider's id."""
        ...

    def retrieve(self, provider_job_id: str) -> ProviderStatus: ...

    def open_content(self, provider_job_id: str, variant: Variant) -> BinaryIO:
        """A readable stream of the finished file; the caller closes it."""
        ...

    def delete(self, provider_job_id: str) -> None: ...
