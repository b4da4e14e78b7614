"""Engines' webhooks: verified on the raw body, then only a check of the named job is queued;
forged ones change nothing, and duplicated, late or early ones change nothing more."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from conftest import empty_queue, post
from fakes import ScriptedProvider

from chalicelib import aws, wiring
from chalicelib.adapters.queue import MessageQueue
from chalicelib.adapters.storage import MediaStore
from chalicelib.adapters.video import ProviderStatus, WebhookEvent, WebhookInvalid
from chalicelib.models import VideoJob
from chalicelib.services import generation

SECRET = b"test-only-engine-webhook-secret"
ROOT = Path(__file__).resolve().parents[1]


def signed(body: dict, secret: bytes = SECRET) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(body).encode()
    return raw, {"Content-Type": "application/json",
                 "x-test-signature": hmac.new(secret, raw, hashlib.sha256).hexdigest()}


def hmac_verifier(raw, headers, query, config) -> WebhookEvent:
    """Stands in for an adapter's verifier (fal's Ed25519, Replicate's Standard Webhooks) through
    the registry the routes look verifiers up in; it checks a real signature all the same."""
    expected = hmac.new(SECRET, raw, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(headers.get("x-test-signature", ""), expected):
        raise WebhookInvalid("signature does not match")
    return WebhookEvent(json.loads(raw)["request_id"])


pytestmark = pytest.mark.usefixtures("drained_jobs_queue")


@pytest.fixture(autouse=True)
def verifiers():
    saved = dict(wiring.WEBHOOK_VERIFIERS)
    wiring.WEBHOOK_VERIFIERS.update(fal=hmac_verifier, replicate=hmac_verifier)
    yield
    wiring.WEBHOOK_VERIFIERS.clear()
    wiring.WEBHOOK_VERIFIERS.update(saved)


@pytest.fixture
def jobs_queue(world):
    url = os.environ["JOBS_QUEUE_URL"]
    empty_queue(url)
    return url


@pytest.fixture
def engine():
    return ScriptedProvider("local")


@pytest.fixture
def deps(world, engine):
    queue = aws.sqs().create_queue(QueueName=f"aisora-dev-test-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    return generation.Dependencies(MessageQueue(queue), MediaStore(world.bucket), {"local": engine}, 300, 0)


@pytest.fixture
def running(client, user, deps, jobs_queue) -> VideoJob:
    response = post(client, "/videos", {"prompt": "Snow on a red roof", "seconds": 4}, user["access_token"])
    job = VideoJob.get(response.json_body["id"])
    generation.handle_message({"job_id": job.job_id, "action": "submit"}, deps)
    job.refresh()
    empty_queue(jobs_queue)
    empty_queue(deps.queue._url)
    return job


def received(url: str) -> list[dict]:
    got = aws.sqs().receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(m["Body"]) for m in got]


@pytest.mark.parametrize("engine_name", ["fal", "replicate"])
def test_a_signed_webhook_queues_a_check_that_completes_the_job(client, running, deps, engine, jobs_queue,
                                                                 engine_name):
    raw, headers = signed({"request_id": running.provider_job_id, "status": "OK"})
    response = client.http.post(f"/webhooks/{engine_name}", body=raw, headers=headers)
    assert response.status_code == 200 and response.json_body["outcome"] == "queued"
    (message,) = received(jobs_queue)
    assert message == {"job_id": running.job_id, "action": "check", "source": "webhook"}
    engine.status = ProviderStatus("completed", 100)
    generation.handle_message(message, deps)
    running.refresh()
    assert running.status == "completed"


@pytest.mark.parametrize("forgery", ["unsigned", "wrong key", "tampered body"])
def test_a_forged_webhook_is_400_and_changes_nothing(client, running, jobs_queue, forgery):
    raw, headers = signed({"request_id": running.provider_job_id},
                          secret=b"someone else" if forgery == "wrong key" else SECRET)
    if forgery == "unsigned":
        del headers["x-test-signature"]
    if forgery == "tampered body":
        raw = raw.replace(b"}", b', "status": "OK"}')
    response = client.http.post("/webhooks/fal", body=raw, headers=headers)
    assert response.status_code == 400 and response.json_body["error"]["code"] == "bad_signature"
    assert received(jobs_queue) == []
    running.refresh()
    assert running.status == "in_progress"


def test_an_early_webhook_checks_once_and_starts_no_second_chain_of_rechecks(running, deps, engine):
    engine.status = ProviderStatus("in_progress", 60)
    for _ in range(3):  # delivered again and again while the video renders
        generation.handle_message({"job_id": running.job_id, "action": "check", "source": "webhook"}, deps)
    running.refresh()
    assert running.progress == 60
    assert received(deps.queue._url) == []  # the re-check messages' own chain goes on alone


def test_duplicated_and_late_webhooks_after_completion_change_nothing_more(client, running, deps, engine,
                                                                         jobs_queue):
    engine.status = ProviderStatus("completed", 100)
    raw, headers = signed({"request_id": running.provider_job_id, "status": "OK"})
    for _ in range(3):
        assert client.http.post("/webhooks/fal", body=raw, headers=headers).status_code == 200
    for message in received(jobs_queue):
        generation.handle_message(message, deps)
    running.refresh()
    completed = (running.status, running.video_key, running.completed_at)
    assert running.status == "completed" and engine.deleted == [running.provider_job_id]
    assert client.http.post("/webhooks/fal", body=raw, headers=headers).status_code == 200  # late
    generation.handle_message({"job_id": running.job_id, "action": "check", "source": "webhook"}, deps)
    running.refresh()
    assert (running.status, running.video_key, running.completed_at) == completed
    assert engine.deleted == [running.provider_job_id]


def test_a_signed_webhook_for_a_job_we_do_not_know_changes_nothing(client, jobs_queue):
    raw, headers = signed({"request_id": "never-submitted"})
    response = client.http.post("/webhooks/replicate", body=raw, headers=headers)
    assert response.status_code == 200 and response.json_body["outcome"] == "unknown video"
    assert received(jobs_queue) == []


def test_the_api_imports_no_engine_and_a_worker_only_the_engine_it_uses():
    script = """
import sys
from dataclasses import replace
import app
from chalicelib import config, wiring
deps = wiring.generation_dependencies()
assert sorted(deps.engines) == ["fal", "openai", "replicate"], sorted(deps.engines)
engine_modules = {"chalicelib.adapters.fal", "chalicelib.adapters.replicate",
                  "chalicelib.adapters.openai_video", "chalicelib.adapters.local_video",
                  "openai", "fal_client", "replicate", "httpx"}
print(sorted(engine_modules & set(sys.modules)))
wiring.Engines(replace(config.settings(), video_engines=frozenset({"local", "openai"})))["local"]
print(sorted(engine_modules & set(sys.modules)))
"""
    env = {**os.environ, "FAL_KEY": "fal-test", "REPLICATE_API_TOKEN": "r8_test", "VIDEO_API_KEY": "sk-test",
           "VIDEO_API_BASE_URL": "http://127.0.0.1:9/v1", "JOBS_QUEUE_URL": "http://127.0.0.1:9/q"}
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    api_alone, local_worker = done.stdout.splitlines()
    assert api_alone == "[]"
    assert local_worker == "['chalicelib.adapters.local_video']"
