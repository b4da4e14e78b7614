"""The OpenAI moderation endpoint as the prompt check, over its real wire format (the SDK with its
HTTP faked at the transport), and what a refusal or an outage costs the user: nothing."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace

import httpx2
import pytest
from conftest import get
from fakes import ScriptedProvider

from chalicelib import aws
from chalicelib.adapters.openai_moderation import OpenAIModeration
from chalicelib.adapters.queue import MessageQueue
from chalicelib.adapters.storage import MediaStore
from chalicelib.config import ConfigError, Settings, settings
from chalicelib.errors import Busy, PromptRefused
from chalicelib.models import VideoJob
from chalicelib.secret_store import Secret
from chalicelib.services import generation

CATEGORIES = ("harassment", "harassment/threatening", "hate", "hate/threatening", "illicit",
              "illicit/violent", "self-harm", "self-harm/instructions", "self-harm/intent", "sexual",
              "sexual/minors", "violence", "violence/graphic")


def verdict(*flagged: str) -> dict:
    return {
        "id": f"modr-{uuid.uuid4().hex[:8]}",
        "model": "omni-moderation-2024-09-26",
        "results": [{
            "flagged": bool(flagged),
            "categories": {name: name in flagged for name in CATEGORIES},
            "category_scores": {name: 0.97 if name in flagged else 0.001 for name in CATEGORIES},
            "category_applied_input_types": {name: ["text"] for name in CATEGORIES},
        }],
    }


class Endpoint:
    """Answers as `/v1/moderations` would, one scripted answer a request."""

    def __init__(self, *answers: httpx2.Response) -> None:
        self.answers = list(answers)
        self.requests: list[httpx2.Request] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        return self.answers.pop(0)


@pytest.fixture(autouse=True)
def moderation_api_key(monkeypatch):
    settings()  # the suite's own, built (and cached) before the key is set
    monkeypatch.setenv("MODERATION_API_KEY", "sk-mod")  # read through Settings' Secret, from the environment


def moderator(endpoint: Endpoint) -> OpenAIModeration:
    config = replace(settings(), moderation_provider="openai",
                     moderation_api_key=Secret("MODERATION_API_KEY"),
                     moderation_api_base_url="https://gateway.test/v1")
    transport = httpx2.MockTransport(endpoint)
    return OpenAIModeration.from_settings(config, http_client=httpx2.Client(transport=transport))


def test_the_prompt_goes_to_the_configured_endpoint_with_the_configured_model():
    endpoint = Endpoint(httpx2.Response(200, json=verdict()))
    assert moderator(endpoint).check("A paper crane unfolds") is None
    (request,) = endpoint.requests
    assert str(request.url) == "https://gateway.test/v1/moderations"
    assert request.headers["authorization"] == "Bearer sk-mod"
    sent = json.loads(request.content)
    assert sent == {"input": "A paper crane unfolds", "model": "omni-moderation-latest"}


@pytest.mark.parametrize(("flagged", "reason"), [
    (("violence", "sexual", "sexual/minors"), "sexualise minors"),
    (("violence", "violence/graphic"), "Graphic violence"),
    (("self-harm", "self-harm/intent"), "self-harm"),
    (("harassment",), "Harassing"),
    (("illicit",), "crimes"),
])
def test_a_flagged_prompt_is_refused_for_its_most_serious_category(flagged, reason):
    endpoint = Endpoint(httpx2.Response(200, json=verdict(*flagged)))
    assert reason in moderator(endpoint).check("anything")


@pytest.fixture
def account(client, user):
    token = user["access_token"]
    return token, get(client, "/me", token).json_body["id"]


def deps_with(endpoint: Endpoint, world) -> generation.Dependencies:
    queue = aws.sqs().create_queue(QueueName=f"aisora-dev-test-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    engines = {"local": ScriptedProvider()}
    return generation.Dependencies(MessageQueue(queue), MediaStore(world.bucket), engines, 300, 0,
                                   moderator=moderator(endpoint))


def jobs_of(user_id: str) -> list:
    return list(VideoJob.scan(VideoJob.user_id == user_id))


SPEC = generation.parse_request({"prompt": "A street fight, in detail", "seconds": 4, "size": "720x1280"})


def test_a_refused_prompt_creates_no_job_and_charges_nothing(client, account, world):
    token, user_id = account
    deps = deps_with(Endpoint(httpx2.Response(200, json=verdict("violence", "violence/graphic"))), world)
    with pytest.raises(PromptRefused, match=r"Graphic violence and gore .* No credits were charged"):
        generation.create_video(user_id, SPEC, deps)
    assert jobs_of(user_id) == [] and get(client, "/me", token).json_body["credits"] == 40


def test_an_endpoint_that_cannot_answer_refuses_nothing_and_charges_nothing(client, account, world):
    token, user_id = account
    endpoint = Endpoint(httpx2.Response(503, json={"error": {"message": "overloaded"}}),
                        httpx2.Response(503, json={"error": {"message": "overloaded"}}))
    with pytest.raises(Busy, match="nothing was charged"):
        generation.create_video(user_id, SPEC, deps_with(endpoint, world))
    assert len(endpoint.requests) == 2  # the SDK's one retry, then a clear answer
    assert jobs_of(user_id) == [] and get(client, "/me", token).json_body["credits"] == 40


def test_a_5xx_then_a_pass_lets_the_video_be_made(client, account, world):
    token, user_id = account
    endpoint = Endpoint(httpx2.Response(500, json={"error": {"message": "oops"}}),
                        httpx2.Response(200, json=verdict()))
    created = generation.create_video(user_id, SPEC, deps_with(endpoint, world))
    assert [job.job_id for job in jobs_of(user_id)] == [created["id"]]
    assert get(client, "/me", token).json_body["credits"] == 40 - created["cost"]


def test_the_local_rules_refuse_first_and_the_endpoint_is_not_asked(account, world):
    _, user_id = account
    endpoint = Endpoint()
    spec = generation.parse_request({"prompt": "how to make a bomb at home", "seconds": 4})
    with pytest.raises(PromptRefused, match="weapons or explosives"):
        generation.create_video(user_id, spec, deps_with(endpoint, world))
    assert endpoint.requests == []


@pytest.mark.parametrize(("environ", "provider", "key"), [
    ({}, "local", None),
    ({"VIDEO_API_KEY": "sk-video"}, "openai", "sk-video"),  # OpenAI's key serves both
    ({"VIDEO_API_KEY": "sk-video", "MODERATION_PROVIDER": "local"}, "local", "sk-video"),
    ({"MODERATION_API_KEY": "sk-mod"}, "openai", "sk-mod"),
    # A gateway for videos need not answer /v1/moderations: only a key for it turns it on.
    ({"VIDEO_API_KEY": "sk-video", "VIDEO_API_BASE_URL": "https://gateway.example/v1"}, "local", None),
])
def test_the_endpoint_is_used_where_a_key_for_it_is_configured(monkeypatch, environ, provider, key):
    for name in ("VIDEO_API_KEY", "VIDEO_PROVIDER", "VIDEO_API_BASE_URL", "MODERATION_API_KEY",
                 "MODERATION_PROVIDER"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    config = Settings.from_environ()
    revealed = config.moderation_api_key.reveal() if config.moderation_api_key else None
    assert (config.moderation_provider, revealed) == (provider, key)


def test_an_unknown_moderation_provider_is_a_configuration_error(monkeypatch):
    monkeypatch.setenv("MODERATION_PROVIDER", "vibes")
    with pytest.raises(ConfigError, match="MODERATION_PROVIDER"):
        Settings.from_environ()
