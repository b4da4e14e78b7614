"""The video engine protocol: what the generation worker needs from any engine.

Implementations: `local_video.LocalRenderer` (no key, no network; serves every model under
`make run`), fal.ai's queue API, Replicate's predictions, and OpenAI-compatible `/v1/videos`
gateways. The worker speaks only these types; each engine's wire format stays in its adapter.

Failover rests on the three exceptions a submit may raise: `ProviderUnavailable` says the engine
did *not* accept the job (connection refused, 429, 5xx, a timeout before any byte was sent), so
the next route may take it; `SubmitUnknown` says it may have (the request went out and no answer
came back), so the job is never sent to another route; `ProviderRefused` says it never will.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import BinaryIO, Literal, Protocol

ProviderState = Literal["queued", "in_progress", "completed", "failed"]
Variant = Literal["video", "thumbnail"]


@dataclass(frozen=True)
class VideoSpec:
    """The video the user asked for, in our own terms (catalogue ids, WIDTHxHEIGHT)."""

    prompt: str
    model: str
    seconds: int
    size: str  # "WIDTHxHEIGHT"
    audio: bool = False
    negative_prompt: str | None = None


@dataclass(frozen=True)
class ReferenceImage:
    data: bytes
    content_type: str


@dataclass(frozen=True)
class Submission:
    """One attempt at one route: the video, the engine's own id of the model on that route, and
    the checked images already fitted to the video's size."""

    spec: VideoSpec
    engine_model: str
    job_id: str  # ours: for the engine's logs and metadata, never trusted back from it
    start_image: ReferenceImage | None = None
    end_image: ReferenceImage | None = None


@dataclass(frozen=True)
class ProviderStatus:
    state: ProviderState
    progress: int
    error: str | None = None


@dataclass(frozen=True)
class WebhookEvent:
    """A verified webhook: which engine job it speaks of. The worker re-checks that job with the
    engine itself, so what the body claims beyond the id decides nothing."""

    provider_job_id: str


class ProviderRefused(Exception):
    """Raised when the engine will never make this video (refused content, invalid input).
    Neither retried nor failed over; the job fails with this reason and is refunded."""


class ProviderUnavailable(Exception):
    """Raised when the engine did not accept the job and may later (network, 429, 5xx): worth
    another try, and on submit worth the next route."""


class SubmitUnknown(ProviderUnavailable):
    """Raised when a submit may have reached the engine but its answer was lost (a timeout after
    the request was sent, a connection cut mid-answer). Never sent to another route."""


class WebhookInvalid(Exception):
    """Raised for a webhook whose signature, key, timestamp or body does not check out."""


class VideoProvider(Protocol):
    name: str

    def create(self, submission: Submission) -> str:
        """Submits one attempt; returns the engine's id of the job."""
        ...

    def retrieve(self, provider_job_id: str) -> ProviderStatus: ...

    def open_content(self, provider_job_id: str, variant: Variant) -> BinaryIO | None:
        """A readable stream of the finished file, the caller closes it; None when the engine
        makes no such file (many give no thumbnail)."""
        ...

    def delete(self, provider_job_id: str) -> None:
        """Cancels a running job or forgets a finished one; best effort, never raises for a job
        that is already gone or done."""
        ...
