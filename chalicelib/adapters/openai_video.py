"""The OpenAI-shaped Videos API (`/v1/videos`) as a video provider, through the openai SDK.

Base URL, key and model ids are configuration, so any gateway that serves the same shape
works (route provider "openai"). Gateways send no webhooks: their jobs are followed by polling
alone. Imported only when this engine is used: the SDK costs more to import than the rest of the
API together.
"""

from __future__ import annotations

import contextlib
import tempfile
import warnings
from collections.abc import Iterator
from typing import Any, BinaryIO

import openai

from chalicelib.adapters.video import (
    ProviderRefused,
    ProviderStatus,
    ProviderUnavailable,
    Submission,
    Variant,
)
from chalicelib.config import Settings

# Kept in memory up to this size, then spilled to /tmp while it streams to S3.
_SPOOL_BYTES = 8 * 1024 * 1024


class OpenAIVideos:
    name = "openai"

    def __init__(self, client: openai.OpenAI, model_ids: dict[str, str] | None = None) -> None:
        self._client = client
        # Our model id -> the gateway's, where it names a model otherwise.
        self._model_ids = model_ids or {}

    @classmethod
    def from_settings(cls, settings: Settings, http_client: Any | None = None) -> OpenAIVideos:
        return cls(
            openai.OpenAI(
                api_key=settings.video_api_key.reveal() if settings.video_api_key else None,
                base_url=settings.video_api_base_url,
                timeout=20.0,
                max_retries=2,
                http_client=http_client,
            ),
            settings.video_model_ids,
        )

    def create(self, submission: Submission) -> str:
        spec, reference = submission.spec, submission.start_image
        extra: dict[str, Any] = {}
        if reference is not None:
            # Sent as bytes: the SDK refuses {"image_url": ...}.
            suffix = reference.content_type.split("/")[1]
            extra["input_reference"] = (f"reference.{suffix}", reference.data, reference.content_type)
        with _provider_errors():
            video = self._client.videos.create(
                prompt=spec.prompt,
                model=self._model_ids.get(spec.model, submission.engine_model),
                seconds=str(spec.seconds),
                size=spec.size,
                **extra,
            )
        return video.id

    def retrieve(self, provider_job_id: str) -> ProviderStatus:
        with _provider_errors():
            video = self._client.videos.retrieve(provider_job_id)
        error = video.error.message if video.error else None
        return ProviderStatus(video.status, int(video.progress or 0), error)

    def open_content(self, provider_job_id: str, variant: Variant) -> BinaryIO:
        spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES)  # noqa: SIM115 - caller closes
        with _provider_errors(), self._client.videos.with_streaming_response.download_content(
            provider_job_id, variant=variant
        ) as response:
            for chunk in response.iter_bytes():
                spool.write(chunk)
        spool.seek(0)
        return spool  # type: ignore[return-value]

    def delete(self, provider_job_id: str) -> None:
        try:
            with _provider_errors():
                self._client.videos.delete(provider_job_id)
        except ProviderRefused:
            pass  # already gone


@contextlib.contextmanager
def _provider_errors() -> Iterator[None]:
    """Maps the SDK's errors to the two the worker acts on, and quiets the SDK's notice that
    OpenAI's own Sora endpoint is deprecated (gateways serve the same shape)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            yield
        except (openai.BadRequestError, openai.NotFoundError, openai.UnprocessableEntityError) as error:
            raise ProviderRefused(_message(error)) from error
        except openai.APIError as error:
            raise ProviderUnavailable(_message(error)) from error


def _message(error: openai.APIError) -> str:
    body = error.body if isinstance(error.body, dict) else {}
    return str(body.get("message") or error.message)
