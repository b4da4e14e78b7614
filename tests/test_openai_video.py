"""The OpenAI-shaped provider over its real wire format, with the network faked at the transport."""

from __future__ import annotations

import json
from dataclasses import replace

import httpx2
import pytest

from chalicelib.adapters.openai_video import OpenAIVideos
from chalicelib.adapters.video import (
    ProviderRefused,
    ProviderUnavailable,
    ReferenceImage,
    Submission,
    VideoSpec,
)
from chalicelib.config import settings
from chalicelib.secret_store import Secret

SPEC = Submission(VideoSpec(prompt="A paper crane unfolds", model="veo-3.1-fast", seconds=8, size="1280x720"),
                  engine_model="google/veo-3.1-fast-generate-001", job_id="job_1")


@pytest.fixture(autouse=True)
def video_api_key(monkeypatch):
    settings()  # the suite's own, built (and cached) before the key is set
    monkeypatch.setenv("VIDEO_API_KEY", "sk-test")  # read through Settings' Secret, from the environment


def video(status="queued", progress=0, error=None):
    return {"id": "video_123", "object": "video", "created_at": 1764000000, "model": "veo-3.1-fast",
            "progress": progress, "seconds": "8", "size": "1280x720", "status": status, "error": error}


class Gateway:
    """Answers as a `/v1/videos` server would and remembers every request."""

    def __init__(self, routes):
        self.routes = routes
        self.requests: list[httpx2.Request] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        return self.routes(request)


def provider(gateway: Gateway) -> OpenAIVideos:
    config = replace(settings(), video_api_key=Secret("VIDEO_API_KEY"),
                     video_api_base_url="https://gateway.test/v1")
    client = httpx2.Client(transport=httpx2.MockTransport(gateway))
    return OpenAIVideos.from_settings(config, http_client=client)


@pytest.mark.policy("minimum-sharing")
def test_create_posts_the_spec_to_the_configured_gateway():
    gateway = Gateway(lambda request: httpx2.Response(200, json=video()))
    assert provider(gateway).create(SPEC) == "video_123"
    (request,) = gateway.requests
    assert str(request.url) == "https://gateway.test/v1/videos"
    assert request.headers["authorization"] == "Bearer sk-test"
    body = request.content.decode()
    for part in ('name="prompt"', "A paper crane unfolds", 'name="seconds"', "8", "1280x720"):
        assert part in body


def test_a_gateway_that_names_the_model_otherwise_gets_its_own_name():
    gateway = Gateway(lambda request: httpx2.Response(200, json=video()))
    config = replace(settings(), video_api_key=Secret("VIDEO_API_KEY"), video_api_base_url="https://gateway.test/v1",
                     video_model_ids={"veo-3.1-fast": "gemini/veo-3.1-fast-generate-preview"})
    client = httpx2.Client(transport=httpx2.MockTransport(gateway))
    OpenAIVideos.from_settings(config, http_client=client).create(SPEC)
    (request,) = gateway.requests
    assert b"gemini/veo-3.1-fast-generate-preview" in request.content


def test_retrieve_reports_progress_and_the_providers_reason_for_failure():
    failure = {"code": "x", "message": "out of capacity"}
    answers = iter([video("in_progress", 42), video("failed", 42, failure)])
    gateway = Gateway(lambda request: httpx2.Response(200, json=next(answers)))
    videos = provider(gateway)
    running = videos.retrieve("video_123")
    assert (running.state, running.progress, running.error) == ("in_progress", 42, None)
    failed = videos.retrieve("video_123")
    assert (failed.state, failed.error) == ("failed", "out of capacity")
    assert gateway.requests[0].url.path == "/v1/videos/video_123"


def test_content_is_streamed_for_each_variant():
    def routes(request):
        variant = request.url.params.get("variant")
        return httpx2.Response(200, content=b"MP4" * 1000 if variant == "video" else b"WEBP")

    gateway = Gateway(routes)
    videos = provider(gateway)
    with videos.open_content("video_123", "video") as body:
        assert body.read() == b"MP4" * 1000
    with videos.open_content("video_123", "thumbnail") as body:
        assert body.read() == b"WEBP"
    assert [r.url.path for r in gateway.requests] == ["/v1/videos/video_123/content"] * 2


def test_a_moderation_refusal_is_final():
    error = {"error": {"message": "Your request was blocked by moderation", "type": "invalid_request_error",
                       "code": "moderation_blocked"}}
    gateway = Gateway(lambda request: httpx2.Response(400, json=error))
    with pytest.raises(ProviderRefused, match="blocked by moderation"):
        provider(gateway).create(SPEC)
    assert len(gateway.requests) == 1  # a refusal is not retried


def test_server_errors_are_worth_retrying_later():
    gateway = Gateway(lambda request: httpx2.Response(503, json={"error": {"message": "overloaded"}}))
    with pytest.raises(ProviderUnavailable):
        provider(gateway).create(SPEC)
    assert len(gateway.requests) == 3  # the SDK's own two retries first


def test_deleting_a_video_the_provider_forgot_is_fine():
    gateway = Gateway(lambda request: httpx2.Response(404, json={"error": {"message": "not found"}}))
    provider(gateway).delete("video_123")
    assert json.loads(gateway.requests[0].content or b"{}") == {}
    assert gateway.requests[0].method == "DELETE"


def test_a_reference_image_is_sent_as_bytes_in_the_multipart_body():

    gateway = Gateway(lambda request: httpx2.Response(200, json=video()))
    image = b"\x89PNG\r\n\x1a\n" + b"pixels"
    provider(gateway).create(replace(SPEC, start_image=ReferenceImage(image, "image/png")))
    body = gateway.requests[0].content
    assert b'name="input_reference"; filename="reference.png"' in body and image in body


def test_a_5xx_then_success_is_one_video():
    answers = iter([httpx2.Response(502, json={"error": {"message": "bad gateway"}}),
                    httpx2.Response(200, json=video())])
    gateway = Gateway(lambda request: next(answers))
    assert provider(gateway).create(SPEC) == "video_123"
    assert len(gateway.requests) == 2
