"""Which engine makes a job: its model's routes in order, moving on only while none has it.

A route that answers "unavailable" (connection refused, 429, 5xx: the job was not accepted)
gives way to the next; a refusal ends the job, since another engine would be asked to make
the same refused video; a submit whose acceptance is unknown is never sent anywhere again,
because neither fal's queue nor Replicate's predictions take an idempotency key, so a second
send could make (and bill us for) a second video. Every attempt is recorded on the job.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace

from pynamodb.exceptions import UpdateError
from pynamodb.expressions.update import Action

from chalicelib import observability
from chalicelib.adapters.video import (
    ProviderRefused,
    ProviderUnavailable,
    Submission,
    SubmitUnknown,
    VideoProvider,
)
from chalicelib.models import VideoJob
from chalicelib.models.base import utcnow
from chalicelib.models.jobs import Attempt
from chalicelib.services import catalogue

log = logging.getLogger(__name__)

# An engine's message kept on the attempt: enough for an operator, never a whole body.
_DETAIL_CHARS = 300


@dataclass(frozen=True)
class Accepted:
    provider: str
    provider_job_id: str


class NoRoute(ProviderRefused):
    """Raised when no configured engine makes the job's model (a key removed since it was made)."""


class EveryRouteUnavailable(ProviderUnavailable):
    """Raised when every route answered unavailable: the message goes back to the queue."""


def submit(job: VideoJob, submission: Submission, engines: Mapping[str, VideoProvider]) -> Accepted:
    """Sends the job to the first route that accepts it. Raises ProviderRefused (the job fails),
    SubmitUnknown (it may be running somewhere: never sent again), or EveryRouteUnavailable."""
    routes = catalogue.routes_for(job.model, frozenset(engines))
    if not routes:
        raise NoRoute(f"no engine that makes {job.model} is configured")
    for number, route in enumerate(routes, start=1):
        try:
            engine = engines[route.provider]
            provider_job_id = engine.create(replace(submission, engine_model=route.engine_model))
        except SubmitUnknown as exc:
            record(job, route.provider, "unknown", exc)
            raise
        except ProviderUnavailable as exc:
            record(job, route.provider, "unavailable", exc)
            if number < len(routes):
                log.warning("engine %s unavailable for job %s, trying %s: %s", route.provider, job.job_id,
                            routes[number].provider, exc)
                observability.metric("EngineFailover", 1, "Count", provider=route.provider)
            continue
        except ProviderRefused as exc:
            record(job, route.provider, "refused", exc)
            raise
        except Exception as exc:
            # Not one of the protocol's answers, so nothing says the job was not accepted.
            record(job, route.provider, "unknown", exc)
            raise SubmitUnknown(f"{route.provider} failed unexpectedly: {exc}") from exc
        return Accepted(route.provider, provider_job_id)
    raise EveryRouteUnavailable(f"every engine for {job.model} is unavailable: "
                                f"{', '.join(r.provider for r in routes)}")


def attempt_action(provider: str, outcome: str, detail: str | None = None) -> Action:
    """Appends one attempt to the job's list (started on the first)."""
    attempt = Attempt(provider=provider, outcome=outcome, at=utcnow(),
                      detail=detail[:_DETAIL_CHARS] if detail else None)
    return VideoJob.attempts.set((VideoJob.attempts | []).append([attempt]))


def record(job: VideoJob, provider: str, outcome: str, error: Exception) -> None:
    # On the job as it stands: an update without a condition would bring back a deleted one.
    with contextlib.suppress(UpdateError):
        job.update(actions=[attempt_action(provider, outcome, str(error) or type(error).__name__)],
                   condition=VideoJob.job_id.exists())


def attempts_view(job: VideoJob) -> list[dict[str, str | None]]:
    """The attempts as operators read them."""
    return [{"provider": a.provider, "outcome": a.outcome, "at": a.at.isoformat(), "detail": a.detail}
            for a in job.attempts or ()]
