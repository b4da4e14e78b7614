"""Replicate's predictions as a video engine, over its documented HTTP API (no SDK).

Create `POST {base}/v1/models/{owner}/{name}/predictions` with the input and a webhook for the
`completed` event, then `GET /v1/predictions/{id}` and `POST /v1/predictions/{id}/cancel`.
Webhooks are signed Standard Webhooks style (`webhook-id`, `webhook-timestamp`,
`webhook-signature: v1,<base64 HMAC-SHA256>` keyed with the `whsec_` secret).

Each model names its inputs its own way; `MODELS` shapes a `Submission` per engine model id.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, BinaryIO

import urllib3

from chalicelib.adapters import engine_http, engine_inputs
from chalicelib.adapters.engine_http import Answer, EngineHTTP, Timeouts
from chalicelib.adapters.engine_media import MediaHosts
from chalicelib.adapters.safe_fetch import Resolver, system_resolver
from chalicelib.adapters.video import (
    ProviderRefused,
    ProviderStatus,
    ProviderUnavailable,
    Submission,
    SubmitUnknown,
    Variant,
    WebhookEvent,
    WebhookInvalid,
)
from chalicelib.config import Settings

MEDIA_DOMAINS = ("replicate.delivery",)
TOLERANCE_SECONDS = 300
_MODEL = re.compile(r"[a-z0-9][a-z0-9._-]*/[a-z0-9][a-z0-9._-]*")
_PREDICTION_ID = re.compile(r"[a-z0-9]{1,64}")
_STATES = {"starting": ("queued", 0), "processing": ("in_progress", 50)}


@dataclass(frozen=True)
class ReplicateModel:
    """How one Replicate model takes a video request (fields from its published schema)."""

    aspect_ratios: tuple[str, ...] = ()  # empty: no aspect_ratio field
    resolutions: tuple[str, ...] = ()  # empty: no resolution field
    audio: bool = False  # takes generate_audio
    negative_prompt: bool = False
    image_field: str | None = None  # None: no start image
    end_image_field: str | None = None


_VEO = ReplicateModel(("16:9", "9:16"), ("720p", "1080p"), audio=True, negative_prompt=True,
                      image_field="image", end_image_field="last_frame")
_RATIOS = ("16:9", "9:16", "1:1")
MODELS: dict[str, ReplicateModel] = {
    "google/veo-3.1": _VEO,
    "google/veo-3.1-fast": _VEO,
    "kwaivgi/kling-v2.6": ReplicateModel(_RATIOS, audio=True, negative_prompt=True,
                                         image_field="start_image"),
    "kwaivgi/kling-v2.5-turbo-pro": ReplicateModel(_RATIOS, negative_prompt=True, image_field="start_image"),
    "bytedance/seedance-1-pro": ReplicateModel(_RATIOS, ("480p", "1080p"), image_field="image"),
}


def shape(submission: Submission) -> dict[str, Any]:
    """The prediction's input, or ProviderRefused for what the model lacks. Durations are ints."""
    spec, engine_model = submission.spec, submission.engine_model
    model = MODELS.get(engine_model)
    if model is None:
        raise ProviderRefused(f"Replicate has no input shape for model {engine_model}")

    def refuse(what: str) -> ProviderRefused:
        return ProviderRefused(f"{engine_model} on Replicate does not take {what}")

    payload: dict[str, Any] = {"prompt": spec.prompt, "duration": spec.seconds}
    for image, field, what in ((submission.start_image, model.image_field, "a start image"),
                               (submission.end_image, model.end_image_field, "an end image")):
        if image is not None:
            if field is None:
                raise refuse(what)
            payload[field] = engine_inputs.data_uri(image)
    if model.aspect_ratios:
        ratio = engine_inputs.aspect_ratio(spec.size)
        payload["aspect_ratio"] = engine_inputs.choose("Replicate", engine_model, "aspect ratio", ratio,
                                                       model.aspect_ratios)
    if model.resolutions:
        payload["resolution"] = engine_inputs.choose("Replicate", engine_model, "resolution",
                                                     engine_inputs.resolution(spec.size), model.resolutions)
    engine_inputs.sound_and_negative_prompt(payload, spec, model.audio, model.negative_prompt, refuse)
    return payload


def _refusal(answer: Answer) -> str:
    """Replicate's problem+json (`{"title", "detail", "status"}`) in words."""
    body = answer.body if isinstance(answer.body, dict) else {}
    detail = body.get("detail") or body.get("title") or f"HTTP {answer.status}"
    return f"Replicate refused the request: {str(detail)[:300]}"


def _output_url(output: Any) -> str | None:
    if isinstance(output, list) and output:
        output = output[0]
    return output if isinstance(output, str) else None


class ReplicatePredictions:
    name = "replicate"

    def __init__(self, token: str, base_url: str, webhook_url: str, http: urllib3.PoolManager,
                 resolve: Resolver = system_resolver, timeouts: Timeouts | None = None) -> None:
        self._base = base_url.rstrip("/")
        self._webhook = webhook_url
        self._http = EngineHTTP("Replicate", {"Authorization": f"Bearer {token}"}, http, timeouts)
        self._media = MediaHosts("Replicate", self._base, MEDIA_DOMAINS, resolve)

    @classmethod
    def from_settings(cls, settings: Settings, http: urllib3.PoolManager | None = None,
                      resolve: Resolver = system_resolver,
                      timeouts: Timeouts | None = None) -> ReplicatePredictions:
        if not settings.replicate_api_token:
            raise ProviderUnavailable("Replicate is not configured (REPLICATE_API_TOKEN)")
        webhook = settings.app_base_url + "/webhooks/replicate"
        return cls(settings.replicate_api_token.reveal(), settings.replicate_base_url, webhook,
                   http or engine_http.pool(), resolve, timeouts)

    def create(self, submission: Submission) -> str:
        payload = shape(submission)
        if not _MODEL.fullmatch(submission.engine_model):
            raise ProviderRefused(f"not a Replicate model: {submission.engine_model}")
        body = self._http.submit(
            f"{self._base}/v1/models/{submission.engine_model}/predictions",
            {"input": payload, "webhook": self._webhook, "webhook_events_filter": ["completed"]},
            _refusal,
        )
        prediction_id = body.get("id")
        if not isinstance(prediction_id, str) or not _PREDICTION_ID.fullmatch(prediction_id):
            raise SubmitUnknown("Replicate answered the submit without a prediction id")
        return prediction_id

    def _prediction(self, provider_job_id: str) -> Answer:
        if not _PREDICTION_ID.fullmatch(provider_job_id):
            raise ValueError(f"not a Replicate prediction id: {provider_job_id!r}")
        return self._http.read("GET", f"{self._base}/v1/predictions/{provider_job_id}")

    def retrieve(self, provider_job_id: str) -> ProviderStatus:
        answer = self._prediction(provider_job_id)
        if answer.status == 404:
            return ProviderStatus("failed", 0, "Replicate no longer knows this prediction")
        body = answer.body if isinstance(answer.body, dict) and answer.status == 200 else {}
        status = body.get("status")
        if status in _STATES:
            state, progress = _STATES[status]
            return ProviderStatus(state, progress)  # type: ignore[arg-type]
        if status == "succeeded":
            if _output_url(body.get("output")) is None:
                return ProviderStatus("failed", 0, "Replicate's prediction succeeded with no video")
            return ProviderStatus("completed", 100)
        if status == "failed":
            return ProviderStatus("failed", 0, f"Replicate failed the job: {str(body.get('error'))[:300]}")
        if status == "canceled":
            return ProviderStatus("failed", 0, "the job was canceled at Replicate")
        return ProviderStatus("failed", 0, f"Replicate answered the status check with HTTP {answer.status} "
                                           "and no status it documents")

    def open_content(self, provider_job_id: str, variant: Variant) -> BinaryIO | None:
        if variant == "thumbnail":
            return None  # Replicate's video models make none; the worker draws a poster itself
        answer = self._prediction(provider_job_id)
        body = answer.body if isinstance(answer.body, dict) else {}
        url = _output_url(body.get("output")) if body.get("status") == "succeeded" else None
        if url is None:
            raise ProviderRefused("Replicate's prediction has no video")
        return self._media.open(url)

    def delete(self, provider_job_id: str) -> None:
        if not _PREDICTION_ID.fullmatch(provider_job_id):
            raise ValueError(f"not a Replicate prediction id: {provider_job_id!r}")
        # A finished or unknown prediction answers 4xx; nothing is left running either way.
        self._http.read("POST", f"{self._base}/v1/predictions/{provider_job_id}/cancel")


def verify_webhook(raw: bytes, headers: Mapping[str, str], settings: Settings,
                   now: float | None = None) -> WebhookEvent:
    """The prediction a genuine webhook speaks of (Standard Webhooks, 5 minutes either way)."""
    if not settings.replicate_webhook_secret:
        raise WebhookInvalid("Replicate's webhooks are not configured (REPLICATE_WEBHOOK_SECRET)")
    secret = settings.replicate_webhook_secret.reveal()
    lowered = {name.lower(): value for name, value in headers.items()}
    message_id = lowered.get("webhook-id", "")
    timestamp = lowered.get("webhook-timestamp", "")
    signatures = lowered.get("webhook-signature", "")
    if not (message_id and timestamp and signatures):
        raise WebhookInvalid("Replicate's webhook is not signed")
    now = time.time() if now is None else now
    if not timestamp.isdigit() or abs(now - int(timestamp)) > TOLERANCE_SECONDS:
        raise WebhookInvalid("Replicate's webhook is not from the last 5 minutes")
    try:
        key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    except binascii.Error:
        raise WebhookInvalid("REPLICATE_WEBHOOK_SECRET is not a whsec_ secret") from None
    signed = f"{message_id}.{timestamp}.".encode() + raw
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    # Several signatures may be listed during a secret's rotation; any one of ours will do.
    if not any(hmac.compare_digest(candidate.partition(",")[2].encode(), expected.encode())
               for candidate in signatures.split() if candidate.startswith("v1,")):
        raise WebhookInvalid("Replicate's webhook signature does not verify")
    try:
        prediction_id = json.loads(raw).get("id")
    except (ValueError, AttributeError, RecursionError):
        raise WebhookInvalid("Replicate's webhook body is not a prediction") from None
    if not isinstance(prediction_id, str) or not _PREDICTION_ID.fullmatch(prediction_id):
        raise WebhookInvalid("Replicate's webhook names no prediction")
    return WebhookEvent(prediction_id)
