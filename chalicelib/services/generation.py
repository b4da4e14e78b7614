"""Making videos: the request, the queue worker, and the user's view of the result.

POST creates the job and debits its cost in one transaction, then sends one message. The
worker submits to the provider (storing the provider's id before anything else), then learns
of completion by delayed re-check messages; it never sleeps. Every terminal failure refunds
exactly once: the refund's ledger row is keyed by the job, and the job leaves its open states
in the same transaction.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pynamodb.exceptions import DoesNotExist, UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from chalicelib import observability
from chalicelib.adapters import images
from chalicelib.adapters.queue import MessageQueue
from chalicelib.adapters.storage import MediaStore
from chalicelib.adapters.video import (
    ProviderRefused,
    ProviderUnavailable,
    ReferenceImage,
    Submission,
    SubmitUnknown,
    VideoProvider,
    VideoSpec,
    WebhookEvent,
    WebhookInvalid,
)
from chalicelib.errors import (
    AccountGone,
    Expired,
    InvalidInput,
    LimitReached,
    NotFound,
    NotReady,
    WebhookRejected,
)
from chalicelib.models import User, VideoJob
from chalicelib.models.base import utcnow
from chalicelib.services import catalogue, completion, credits, moderation, references, routing

log = logging.getLogger(__name__)

MAX_PROMPT = 2000
OPEN_STATES = completion.OPEN_STATES
_PUBLIC_STATUS = {"submitting": "queued", "finishing": "in_progress"}


@dataclass(frozen=True)
class Dependencies:
    """What the use cases need from outside, resolved once at the edge (app.py)."""

    queue: MessageQueue
    store: MediaStore
    # The configured engines by name ("fal", "replicate", "openai", "local"); routing tries
    # those of a job's model in its order, and checks speak to the one that accepted it.
    engines: Mapping[str, VideoProvider]
    download_url_seconds: int
    recheck_delay_seconds: int
    moderator: moderation.Moderator | None = None  # None: the local rules alone
    # A job not finished by then fails and is refunded, whatever the engine says later.
    generation_deadline_seconds: int = 3600


# --- the request --------------------------------------------------------------------------


# The start and the end image: each an upload of the user's or a web address, never both.
IMAGE_FIELDS = {"start": ("reference_upload_id", "reference_url"),
                "end": ("end_reference_upload_id", "end_reference_url")}
MAX_NEGATIVE_PROMPT = 500


def parse_request(body: dict[str, Any]) -> VideoSpec:
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise InvalidInput("prompt is required", field="prompt")
    prompt = prompt.strip()
    if len(prompt) > MAX_PROMPT:
        raise InvalidInput(f"prompt must have at most {MAX_PROMPT} characters", field="prompt")
    model = body.get("model", catalogue.DEFAULT_MODEL)
    if not isinstance(model, str):
        raise InvalidInput("model must be a string", field="model")
    offered = catalogue.video_model(model)
    # The defaults of the first API (720x1280, 4 s) where the model offers them, else its first.
    size = body.get("size", "720x1280" if "720x1280" in offered.sizes else offered.sizes[0])
    seconds = body.get("seconds", 4 if 4 in offered.seconds else offered.seconds[0])
    if not isinstance(size, str):
        raise InvalidInput("size must be a string such as 720x1280", field="size")
    if isinstance(seconds, str) and seconds.isdigit():
        seconds = int(seconds)  # the OpenAI API takes seconds as a string; accept both
    if not isinstance(seconds, int) or isinstance(seconds, bool):
        raise InvalidInput("seconds must be a whole number", field="seconds")
    audio = body.get("audio", False)
    if not isinstance(audio, bool):
        raise InvalidInput("audio must be true or false", field="audio")
    catalogue.video_cost(model, size, seconds, audio)  # names the field that is not offered
    negative_prompt = _negative_prompt(body, offered)
    _check_images(body, offered)
    return VideoSpec(prompt=prompt, model=model, seconds=seconds, size=size, audio=audio,
                     negative_prompt=negative_prompt)


def _negative_prompt(body: dict[str, Any], model: catalogue.VideoModel) -> str | None:
    value = body.get("negative_prompt")
    if value is None:
        return None
    if not isinstance(value, str) or len(value.strip()) > MAX_NEGATIVE_PROMPT:
        raise InvalidInput(f"negative_prompt must be text of at most {MAX_NEGATIVE_PROMPT} characters",
                           field="negative_prompt")
    if not value.strip():
        return None  # an empty field asks for nothing
    if not model.negative_prompt:
        raise InvalidInput(f"{model.name} takes no negative prompt", field="negative_prompt")
    return value.strip()


def _check_images(body: dict[str, Any], model: catalogue.VideoModel) -> None:
    """Which images the request gives, against what the model takes, before anything is fetched."""
    given = {which: [f for f in fields if body.get(f) is not None] for which, fields in IMAGE_FIELDS.items()}
    for which, takes in (("start", model.start_image), ("end", model.end_image)):
        fields = given[which]
        if len(fields) > 1:
            raise InvalidInput(f"send {fields[0]} or {fields[1]}, not both", field=fields[1])
        if fields and not takes:
            raise InvalidInput(f"{model.name} takes no {which} image", field=fields[0])
    if given["end"] and not given["start"]:
        raise InvalidInput("an end image needs a start image (reference_upload_id or reference_url)",
                           field=given["end"][0])


def resolve_reference(user_id: str, body: dict[str, Any], deps: Dependencies,
                      which: str = "start") -> str | None:
    """The checked start (or end) image's key, before any credit moves; a refusal names why."""
    upload_field, url_field = IMAGE_FIELDS[which]
    if body.get(upload_field) is not None:
        return references.reference_for_upload(user_id, body[upload_field], deps.store, field=upload_field)
    if body.get(url_field) is not None:
        return references.reference_from_url(user_id, body[url_field], deps.store, field=url_field)
    return None


def quote(spec: VideoSpec) -> int:
    return catalogue.video_cost(spec.model, spec.size, spec.seconds, spec.audio)


def create_video(
    user_id: str, spec: VideoSpec, deps: Dependencies, reference_key: str | None = None,
    end_reference_key: str | None = None, owner: User | None = None,
) -> dict[str, Any]:
    """Debits the cost and creates the job in one transaction, then queues it."""
    moderation.check_prompt(spec.prompt, deps.moderator)
    cost = quote(spec)
    routes = catalogue.routes_for(spec.model, frozenset(deps.engines))
    if not routes:
        raise InvalidInput(f"{spec.model} is not offered now; choose another model", field="model")
    now = utcnow()
    try:
        # `owner`: a consistent read the caller made already (the route's, which checked the token).
        owner = owner or credits.read_user(user_id)
    except NotFound:
        raise AccountGone() from None
    if owner.status != "active":
        raise AccountGone()
    job = VideoJob(
        uuid.uuid4().hex,
        user_id=user_id,
        prompt=spec.prompt,
        model=spec.model,
        seconds=spec.seconds,
        size=spec.size,
        cost=cost,
        provider=routes[0].provider,  # until a route accepts it
        created_at=now,
        updated_at=now,
        pending="open",
        deadline_at=now + timedelta(seconds=deps.generation_deadline_seconds),
        reference_key=reference_key,
        end_reference_key=end_reference_key,
        audio=spec.audio,
        negative_prompt=spec.negative_prompt,
    )

    def create_job(tx: TransactWrite) -> None:
        tx.save(job, condition=VideoJob.job_id.does_not_exist())

    credits.apply(user_id, -cost, "debit", f"job:{job.job_id}:debit", create_job, read=owner,
                  user_actions=lambda user: _fair_use(user, job.job_id, now))
    deps.queue.send({"job_id": job.job_id, "action": "submit"})
    observability.metric("VideosRequested", 1, "Count", model=spec.model)
    return _view(job, deps, now)


def _fair_use(user: User, job_id: str, now: datetime) -> tuple[list[Action], Condition]:
    """The plan's limits, from the user's own counters, and their update for one more video;
    written with the debit, under the condition that no other request counted one meanwhile."""
    plan = catalogue.plan(user.plan)
    today = now.date().isoformat()
    made_today = int(user.videos_that_day or 0) if user.usage_day == today else 0
    if made_today >= plan.max_per_day:
        raise LimitReached(f"The {plan.name} plan makes up to {plan.max_per_day} videos a day; "
                           "try again tomorrow or choose a bigger plan.")
    maybe_open = set(user.open_jobs or ())
    ended: set[str] = set()
    if len(maybe_open) >= plan.max_concurrent:
        # At the limit by the set: those whose end was not taken out of it are found out by a
        # consistent read of the jobs themselves.
        ended = maybe_open - _still_open(maybe_open)
        if len(maybe_open - ended) >= plan.max_concurrent:
            raise LimitReached(f"The {plan.name} plan renders {plan.max_concurrent} video(s) at a time; "
                               "wait for one to finish.")
    actions = [User.usage_day.set(today), User.videos_that_day.set(made_today + 1)]
    # DynamoDB takes one action a path: the set rewritten, or the new job added to it.
    actions.append(User.open_jobs.set((maybe_open - ended) | {job_id}) if ended
                   else User.open_jobs.add({job_id}))
    counted_as_read = ((User.usage_day == user.usage_day) & (User.videos_that_day == user.videos_that_day)
                       if user.usage_day else User.usage_day.does_not_exist())
    return actions, counted_as_read


def _still_open(job_ids: set[str]) -> set[str]:
    jobs = VideoJob.batch_get(job_ids, consistent_read=True, attributes_to_get=["job_id", "status"])
    return {job.job_id for job in jobs if job.status in OPEN_STATES}


fail = completion.fail
_release = completion.release


# --- the worker ---------------------------------------------------------------------------


def handle_message(message: dict[str, Any], deps: Dependencies) -> None:
    """One queue message. Safe to receive twice: every step is conditional on the job's state."""
    action = message.get("action")
    job_id = message.get("job_id")
    if not isinstance(job_id, str) or action not in ("submit", "check"):
        log.error("dropping a malformed job message: %s", sorted(message))
        return
    job = _find(job_id)
    if job is None:
        # Deleted by its owner while rendering: let the engine forget it too.
        engine = deps.engines.get(str(message.get("provider"))) if action == "check" else None
        if engine is not None and isinstance(message.get("provider_job_id"), str):
            engine.delete(message["provider_job_id"])
        return
    if job.status not in OPEN_STATES:
        return
    if utcnow() >= job.deadline_at:
        fail(job, "timed_out", "The video took too long to make. Your credits were refunded.")
        return
    if action == "submit":
        _submit(job, deps)
    else:
        # A webhook's check is a one-off: the re-check messages' own chain goes on regardless.
        _check(job, deps, follow_up=message.get("source") != "webhook")


def _submit(job: VideoJob, deps: Dependencies) -> None:
    if job.provider_job_id:
        _schedule_check(job, deps)
        return
    try:
        # Claim the job first, so that a duplicate message never reaches an engine.
        job.update(
            actions=[VideoJob.status.set("submitting"), VideoJob.updated_at.set(utcnow())],
            condition=VideoJob.status == "queued",
        )
    except UpdateError:
        return
    try:
        submission = _submission(job, deps)
    except images.ImageRefused as exc:
        fail(job, "refused", f"The reference image was refused: {exc} Your credits were refunded.")
        return
    except Exception:
        _hand_back(job)
        raise
    try:
        accepted = routing.submit(job, submission, deps.engines)
    except ProviderRefused as exc:
        fail(job, "refused", f"The video model refused this prompt: {exc}. Your credits were refunded.")
        return
    except SubmitUnknown:
        # Maybe running at that engine, under an id we never learnt: sent nowhere again.
        fail(job, "submit_unknown", "The video service did not confirm it took this video. "
             "Your credits were refunded.")
        return
    except ProviderUnavailable:
        # No engine took it: hand the job back and let SQS redeliver the message (then the
        # dead-letter queue refunds it).
        _hand_back(job)
        raise
    try:
        job.update(
            actions=[
                VideoJob.provider.set(accepted.provider),
                VideoJob.provider_job_id.set(accepted.provider_job_id),
                VideoJob.status.set("in_progress"),
                VideoJob.updated_at.set(utcnow()),
                routing.attempt_action(accepted.provider, "accepted"),
            ],
            condition=VideoJob.status == "submitting",
        )
    except UpdateError:
        # Deleted by its owner or failed by the deadline meanwhile: nobody will fetch this video.
        deps.engines[accepted.provider].delete(accepted.provider_job_id)
        return
    _schedule_check(job, deps)


def _hand_back(job: VideoJob) -> None:
    job.update(actions=[VideoJob.status.set("queued")], condition=VideoJob.status == "submitting")


def _submission(job: VideoJob, deps: Dependencies) -> Submission:
    """What every route is sent (each with its own engine model id, set by routing)."""
    spec = VideoSpec(job.prompt, job.model, int(job.seconds), job.size, bool(job.audio), job.negative_prompt)
    return Submission(spec, engine_model=job.model, job_id=job.job_id,
                      start_image=_reference(job.reference_key, spec, deps),
                      end_image=_reference(job.end_reference_key, spec, deps))


def _reference(key: str | None, spec: VideoSpec, deps: Dependencies) -> ReferenceImage | None:
    """A checked image of the job's, fitted to the video's size as providers require."""
    if not key:
        return None
    fitted = images.fit(deps.store.read(key, limit=images.CLEAN_MAX_BYTES), spec.size)
    return ReferenceImage(fitted.data, fitted.content_type)


def _schedule_check(job: VideoJob, deps: Dependencies) -> None:
    deps.queue.send(
        {"job_id": job.job_id, "action": "check", "provider": job.provider,
         "provider_job_id": job.provider_job_id},
        delay_seconds=deps.recheck_delay_seconds,
    )


def _engine(job: VideoJob, deps: Dependencies) -> VideoProvider:
    """The engine that accepted the job; if its key is gone, the message is retried, then refunded."""
    engine = deps.engines.get(job.provider)
    if engine is None:
        raise ProviderUnavailable(f"engine {job.provider} of job {job.job_id} is not configured")
    return engine


def _check(job: VideoJob, deps: Dependencies, follow_up: bool = True) -> None:
    if not job.provider_job_id:
        return  # still being submitted; the submit step schedules the first check
    engine = _engine(job, deps)
    status = engine.retrieve(job.provider_job_id)
    if status.state == "failed":
        reason = status.error or "the video model could not make this video"
        fail(job, "generation_failed", f"The video failed: {reason}. Your credits were refunded.")
        engine.delete(job.provider_job_id)
        return
    if status.state == "completed":
        if not completion.complete(job, engine, deps.store) and follow_up:
            _schedule_check(job, deps)  # another finisher holds it: look again, in case it dies
        return
    if status.progress != job.progress:
        job.update(
            actions=[VideoJob.progress.set(status.progress), VideoJob.updated_at.set(utcnow())],
            condition=VideoJob.status.is_in(*OPEN_STATES),
        )
    if follow_up:
        _schedule_check(job, deps)


def on_engine_webhook(provider: str, verify: Callable[[], WebhookEvent], deps: Dependencies) -> str:
    """An engine's signed webhook: a check of the job it names, queued now rather than at the
    next re-check. The check asks the engine itself, so what the body claims decides nothing and
    a duplicated, late or early webhook changes nothing more. Refused ones count as
    `bad_signature` with the other providers' webhooks."""

    @observability.counted("WebhookEvents", provider=provider)
    def handle() -> str:
        try:
            event = verify()
        except WebhookInvalid as exc:
            raise WebhookRejected(f"The {provider} webhook was refused: {exc}") from None
        observability.bind(event_type="job_update")
        queued = 0
        for key in VideoJob.by_provider_job.query(event.provider_job_id):
            deps.queue.send({"job_id": key.job_id, "action": "check", "source": "webhook"})
            queued += 1
        return "queued" if queued else "unknown video"

    return handle()


def fail_dead_lettered(message: dict[str, Any]) -> None:
    """A message that failed its five receives: the job fails and is refunded, once."""
    job = _find(message.get("job_id", "")) if isinstance(message.get("job_id"), str) else None
    if job is not None and job.status in OPEN_STATES:
        fail(job, "failed_repeatedly", "The video could not be made after several tries. "
             "Your credits were refunded.")


def fail_overdue_jobs(now: datetime | None = None) -> int:
    """The stuck-jobs sweep: open jobs past their deadline fail and are refunded.

    Reads only the sparse index of open jobs, so its cost follows the number of open jobs,
    not the size of the table.
    """
    now = now or utcnow()
    failed = 0
    for job in VideoJob.open_by_deadline.query("open", VideoJob.deadline_at < now):
        fail(job, "timed_out", "The video took too long to make. Your credits were refunded.")
        failed += 1
    return failed


# --- the user's view ----------------------------------------------------------------------


def _find(job_id: str) -> VideoJob | None:
    try:
        return VideoJob.get(job_id)
    except DoesNotExist:
        return None


def owned_job(user_id: str, job_id: str) -> VideoJob:
    """The job if it is this user's; another user's job is as unknown as a missing one."""
    job = _find(job_id) if len(job_id) <= 64 else None
    if job is None or job.user_id != user_id:
        raise NotFound("No video with this id.")
    return job


def _is_expired(job: VideoJob, now: datetime) -> bool:
    return job.status == "expired" or (job.expires_at is not None and job.expires_at <= now)


def _view(job: VideoJob, deps: Dependencies, now: datetime) -> dict[str, Any]:
    expired = _is_expired(job, now)
    status = "expired" if expired else _PUBLIC_STATUS.get(job.status, job.status)
    view: dict[str, Any] = {
        "id": job.job_id,
        "object": "video",
        "status": status,
        "progress": int(job.progress),
        "prompt": job.prompt,
        "model": job.model,
        "seconds": int(job.seconds),
        "size": job.size,
        "cost": int(job.cost),
        "created_at": job.created_at.isoformat(),
        "completed_at": job.completed_at.isoformat() if job.completed_at else None,
        "expires_at": job.expires_at.isoformat() if job.expires_at else None,
        "error": {"code": job.error_code, "message": job.error_message} if job.error_code else None,
    }
    if status == "completed" and job.thumbnail_key:
        view["thumbnail_url"] = deps.store.presigned_get(
            job.thumbnail_key, _url_lifetime(job, deps, now)
        )
    return view


def _url_lifetime(job: VideoJob, deps: Dependencies, now: datetime) -> int:
    """No address outlives the video's storage period."""
    assert job.expires_at is not None
    left = int((job.expires_at - now).total_seconds())
    return max(1, min(deps.download_url_seconds, left))


def get_video(user_id: str, job_id: str, deps: Dependencies) -> dict[str, Any]:
    return _view(owned_job(user_id, job_id), deps, utcnow())


def list_videos(user_id: str, deps: Dependencies, cursor: str | None, limit: int) -> dict[str, Any]:
    start = _decode_cursor(cursor, user_id) if cursor else None
    page = VideoJob.by_user.query(
        user_id, scan_index_forward=False, limit=limit, page_size=limit, last_evaluated_key=start
    )
    now = utcnow()
    videos = [_view(job, deps, now) for job in page]
    last = page.last_evaluated_key
    return {"videos": videos, "next_cursor": _encode_cursor(last) if last else None}


def _encode_cursor(key: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(key, separators=(",", ":")).encode()).decode()


def _decode_cursor(cursor: str, user_id: str) -> dict[str, Any]:
    bad = InvalidInput("cursor is not one this API gave out", field="cursor")
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise bad from None
    # Exactly the index's key, of this user: anything else would reach DynamoDB as a bad query.
    if (
        not isinstance(key, dict)
        or sorted(key) != ["created_at", "job_id", "user_id"]
        or not all(isinstance(v, dict) and isinstance(v.get("S"), str) and len(v) == 1
                   for v in key.values())
        or key["user_id"]["S"] != user_id
    ):
        raise bad
    return key


def download_url(user_id: str, job_id: str, deps: Dependencies) -> dict[str, Any]:
    job = owned_job(user_id, job_id)
    now = utcnow()
    if _is_expired(job, now):
        raise Expired("This video's storage period has ended and it was deleted.")
    if job.status != "completed" or not job.video_key:
        raise NotReady("This video is not ready yet; check its progress and try again.")
    lifetime = _url_lifetime(job, deps, now)
    url = deps.store.presigned_get(job.video_key, lifetime, f"{job.job_id}.mp4")
    return {"url": url, "expires_in": lifetime}


def delete_video(user_id: str, job_id: str, deps: Dependencies) -> None:
    job = owned_job(user_id, job_id)
    deps.store.delete(job.file_keys())
    job.delete()
    if job.status in OPEN_STATES:
        _release(job)
