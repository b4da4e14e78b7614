"""fal.ai's queue API as a video engine, over its documented HTTP protocol (no SDK).

Submit `POST {queue}/{endpoint}?fal_webhook=...`, then status, result and cancel under
`{queue}/{owner}/{alias}/requests/{id}` (fal drops the endpoint's sub-path there). Our id of
a fal job is that path, `{owner}/{alias}/requests/{request_id}`, so every later call can be
made from the id alone. The fal-client SDK is not used: it retries a submit up to 10 times
(a second paid job) and brings a second HTTP stack (httpx 0.28).

Each fal model names its inputs its own way; `MODELS` below shapes a `Submission` per engine
model id (the catalogue holds the ids and prices only).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, BinaryIO
from urllib.parse import quote

import urllib3

from chalicelib.adapters import engine_http, engine_inputs
from chalicelib.adapters.engine_http import Answer, EngineHTTP, Timeouts
from chalicelib.adapters.engine_media import MediaHosts
from chalicelib.adapters.fal_webhook import APP, REQUEST_ID, verify_webhook
from chalicelib.adapters.safe_fetch import Resolver, system_resolver
from chalicelib.adapters.video import (
    ProviderRefused,
    ProviderStatus,
    ProviderUnavailable,
    Submission,
    SubmitUnknown,
    Variant,
)
from chalicelib.config import Settings

__all__ = ["MODELS", "FalModel", "FalQueue", "verify_webhook"]

MEDIA_DOMAINS = ("fal.media",)  # v3.fal.media and the like: fal's public CDN
_JOB_ID = re.compile(rf"{APP.pattern}/requests/{REQUEST_ID.pattern}")


def _with_s(seconds: int) -> str:
    return f"{seconds}s"


@dataclass(frozen=True)
class FalModel:
    """How one fal endpoint takes a video request (fields from fal's endpoint schemas)."""

    duration: Callable[[int], Any] | None = str  # None: the endpoint has no duration field
    aspect_ratios: tuple[str, ...] = ()  # empty: no aspect_ratio field
    resolutions: tuple[str, ...] = ()  # empty: no resolution field
    audio: bool = False  # takes generate_audio
    negative_prompt: bool = False
    image_endpoint: str | None = None  # where a start image goes; None: no image-to-video
    image_field: str = "image_url"
    end_image_field: str | None = None
    image_aspect_ratio: bool = True  # Kling's image-to-video takes the ratio from the image
    # Where a start and an end image go when the image endpoint takes only one (Veo's
    # first-last-frame-to-video, with first_frame_url and last_frame_url).
    frames_endpoint: str | None = None


_VEO = {"duration": _with_s, "aspect_ratios": ("16:9", "9:16"), "resolutions": ("720p", "1080p"),
        "audio": True, "negative_prompt": True}
_KLING_3 = {"aspect_ratios": ("16:9", "9:16", "1:1"), "audio": True, "negative_prompt": True,
            "image_field": "start_image_url", "end_image_field": "end_image_url", "image_aspect_ratio": False}
_SEEDANCE = {"aspect_ratios": ("16:9", "9:16", "1:1"), "resolutions": ("480p", "720p", "1080p"),
             "audio": True, "end_image_field": "end_image_url"}
_WAN = {"aspect_ratios": ("16:9", "9:16", "1:1"), "resolutions": ("720p", "1080p"), "negative_prompt": True}

MODELS: dict[str, FalModel] = {
    "fal-ai/veo3.1": FalModel(**_VEO, image_endpoint="fal-ai/veo3.1/image-to-video",
                              frames_endpoint="fal-ai/veo3.1/first-last-frame-to-video"),
    "fal-ai/veo3.1/fast": FalModel(**_VEO, image_endpoint="fal-ai/veo3.1/fast/image-to-video",
                                   frames_endpoint="fal-ai/veo3.1/fast/first-last-frame-to-video"),
    "fal-ai/veo3.1/lite": FalModel(**_VEO),
    "fal-ai/kling-video/v3/standard/text-to-video": FalModel(
        **_KLING_3, image_endpoint="fal-ai/kling-video/v3/standard/image-to-video"),
    "fal-ai/kling-video/v3/pro/text-to-video": FalModel(
        **_KLING_3, image_endpoint="fal-ai/kling-video/v3/pro/image-to-video"),
    "fal-ai/bytedance/seedance/v1.5/pro/text-to-video": FalModel(
        **_SEEDANCE, image_endpoint="fal-ai/bytedance/seedance/v1.5/pro/image-to-video"),
    "wan/v2.6/text-to-video": FalModel(**_WAN, image_endpoint="wan/v2.6/image-to-video"),
    "fal-ai/minimax/hailuo-2.3/standard/text-to-video": FalModel(
        image_endpoint="fal-ai/minimax/hailuo-2.3/standard/image-to-video"),
    "fal-ai/minimax/hailuo-2.3/pro/text-to-video": FalModel(
        duration=None, image_endpoint="fal-ai/minimax/hailuo-2.3/pro/image-to-video"),
}


def shape(submission: Submission) -> tuple[str, dict[str, Any]]:
    """The endpoint to submit to and its input, or ProviderRefused for what the model lacks."""
    spec, engine_model = submission.spec, submission.engine_model
    model = MODELS.get(engine_model)
    if model is None:
        raise ProviderRefused(f"fal has no input shape for model {engine_model}")

    def refuse(what: str) -> ProviderRefused:
        return ProviderRefused(f"{engine_model} on fal does not take {what}")

    endpoint, payload = engine_model, {"prompt": spec.prompt}
    start, end = submission.start_image, submission.end_image
    if end is not None and start is None:
        raise refuse("an end image without a start image")
    if start is not None and end is not None and model.frames_endpoint:
        endpoint = model.frames_endpoint
        payload["first_frame_url"] = engine_inputs.data_uri(start)
        payload["last_frame_url"] = engine_inputs.data_uri(end)
    elif start is not None:
        if model.image_endpoint is None:
            raise refuse("a start image")
        endpoint = model.image_endpoint
        payload[model.image_field] = engine_inputs.data_uri(start)
        if end is not None:
            if model.end_image_field is None:
                raise refuse("an end image")
            payload[model.end_image_field] = engine_inputs.data_uri(end)
    with_image = start is not None
    if model.duration is not None:
        payload["duration"] = model.duration(spec.seconds)
    if model.aspect_ratios and (model.image_aspect_ratio or not with_image):
        ratio = engine_inputs.aspect_ratio(spec.size)
        payload["aspect_ratio"] = engine_inputs.choose("fal", engine_model, "aspect ratio", ratio,
                                                       model.aspect_ratios)
    if model.resolutions:
        payload["resolution"] = engine_inputs.choose("fal", engine_model, "resolution",
                                                     engine_inputs.resolution(spec.size), model.resolutions)
    engine_inputs.sound_and_negative_prompt(payload, spec, model.audio, model.negative_prompt, refuse)
    return endpoint, payload


def _app(endpoint: str) -> str:
    return "/".join(endpoint.split("/")[:2])


def _refusal(answer: Answer) -> str:
    """fal's 400/422 in words: `{"detail": [{"loc": [...], "msg": ...}]}`, or a plain detail."""
    body = answer.body if isinstance(answer.body, dict) else {}
    detail = body.get("detail")
    if isinstance(detail, list):
        parts = [
            f"{item['loc'][-1]}: {item.get('msg')}" if isinstance(item, dict) and item.get("loc")
            else str(item.get("msg") if isinstance(item, dict) else item)
            for item in detail[:5]
        ]
        text = "; ".join(parts)
    else:
        text = str(detail or f"HTTP {answer.status}")
    error_type = body.get("error_type") or answer.headers.get("X-Fal-Error-Type")
    if error_type == "content_policy_violation" or "content_policy" in str(detail):
        return f"fal refused the request's content: {text[:300]}"
    return f"fal refused the request: {text[:300]}"


class FalQueue:
    name = "fal"

    def __init__(self, key: str, queue_url: str, webhook_url: str, http: urllib3.PoolManager,
                 resolve: Resolver = system_resolver, timeouts: Timeouts | None = None) -> None:
        self._queue = queue_url.rstrip("/")
        self._webhook = webhook_url
        headers = {"Authorization": f"Key {key}", "Accept": "application/json"}
        self._http = EngineHTTP("fal", headers, http, timeouts)
        self._media = MediaHosts("fal", self._queue, MEDIA_DOMAINS, resolve)

    @classmethod
    def from_settings(cls, settings: Settings, http: urllib3.PoolManager | None = None,
                      resolve: Resolver = system_resolver, timeouts: Timeouts | None = None) -> FalQueue:
        if not settings.fal_key:
            raise ProviderUnavailable("fal is not configured (FAL_KEY)")
        return cls(settings.fal_key.reveal(), settings.fal_queue_url, settings.app_base_url + "/webhooks/fal",
                   http or engine_http.pool(), resolve, timeouts)

    def create(self, submission: Submission) -> str:
        endpoint, payload = shape(submission)
        app = _app(endpoint)
        # The webhook names the app: fal signs only the request id, and our id needs both.
        webhook = f"{self._webhook}?app={quote(app, safe='')}"
        body = self._http.submit(f"{self._queue}/{endpoint}?fal_webhook={quote(webhook, safe='')}",
                                 payload, _refusal)
        request_id = body.get("request_id")
        if not isinstance(request_id, str) or not REQUEST_ID.fullmatch(request_id):
            raise SubmitUnknown("fal answered the submit without a request id")
        return f"{app}/requests/{request_id}"

    def _url(self, provider_job_id: str) -> str:
        if not _JOB_ID.fullmatch(provider_job_id):
            raise ValueError(f"not a fal job id: {provider_job_id!r}")
        return f"{self._queue}/{provider_job_id}"

    def retrieve(self, provider_job_id: str) -> ProviderStatus:
        answer = self._http.read("GET", self._url(provider_job_id) + "/status?logs=false")
        body = answer.body if isinstance(answer.body, dict) else {}
        if answer.status == 404:
            return ProviderStatus("failed", 0, "fal no longer knows this job")
        status = body.get("status") if answer.status == 200 else None
        if status == "IN_QUEUE":
            return ProviderStatus("queued", 0)
        if status == "IN_PROGRESS":
            return ProviderStatus("in_progress", 50)  # fal reports no progress of its own
        if status == "COMPLETED":
            if body.get("error"):
                return ProviderStatus("failed", 0, f"fal failed the job: {str(body['error'])[:300]}")
            _, error = self._result(provider_job_id)
            return ProviderStatus("failed", 0, error) if error else ProviderStatus("completed", 100)
        return ProviderStatus("failed", 0, f"fal answered the status check with HTTP {answer.status} "
                                           "and no status it documents")

    def _result(self, provider_job_id: str) -> tuple[str, str | None]:
        """The video's URL, or why there is none."""
        answer = self._http.read("GET", self._url(provider_job_id))
        if 400 <= answer.status < 500:
            return "", _refusal(answer).replace("refused the request", "failed the job")
        video = answer.body.get("video") if isinstance(answer.body, dict) else None
        url = video.get("url") if isinstance(video, dict) else None
        if answer.status != 200 or not isinstance(url, str):
            return "", "fal's result has no video"
        return url, None

    def open_content(self, provider_job_id: str, variant: Variant) -> BinaryIO | None:
        if variant == "thumbnail":
            return None  # fal's video models make none; the worker draws a poster itself
        url, error = self._result(provider_job_id)
        if error:
            raise ProviderRefused(error)
        return self._media.open(url)

    def delete(self, provider_job_id: str) -> None:
        # 202 CANCELLATION_REQUESTED, 400 ALREADY_COMPLETED and 404 NOT_FOUND all leave nothing running.
        self._http.read("PUT", self._url(provider_job_id) + "/cancel")
