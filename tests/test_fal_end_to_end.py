"""A video made through fal's protocol end to end: our stand-in of fal's queue, the real fal
adapter, the worker's routing and completion, and the signed webhook through our route.
(Skipped where the fal adapter and its stand-in are not present.)"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import replace
from urllib.parse import urlsplit

import pytest
from conftest import empty_queue, get, post

from chalicelib import aws, config, wiring
from chalicelib.adapters.queue import MessageQueue
from chalicelib.adapters.storage import MediaStore
from chalicelib.services import catalogue, generation

fal_standin = pytest.importorskip("chalicelib.local.standins.fal")
Receiver = pytest.importorskip("engine_standins").Receiver  # the adapters' test helpers
from chalicelib.adapters.fal import FalQueue  # noqa: E402
from chalicelib.local.standins.base import render_mp4  # noqa: E402

MODEL = "fal-routed-test-model"


def small_render(prompt: str, seconds: int, width: int, height: int) -> bytes:
    """A real MP4 of the asked length, drawn small so the test stays quick."""
    return render_mp4(prompt, seconds, 64, 64)


pytestmark = pytest.mark.usefixtures("drained_jobs_queue")


@pytest.fixture
def receiver():
    receiver = Receiver()
    yield receiver
    receiver.close()


@pytest.fixture
def standin():
    with fal_standin.FalStandIn(render=small_render) as running:
        yield running


@pytest.fixture
def fal_stack(monkeypatch, world, standin, receiver):
    """The API and worker configured with fal alone, pointed at the stand-in; fal's webhooks
    land on `receiver`, and the test hands them to our route."""
    model = replace(catalogue.MODELS[catalogue.DEFAULT_MODEL], id=MODEL,
                    routes=(catalogue.Route("fal", "fal-ai/veo3.1/fast"),))
    monkeypatch.setitem(catalogue.MODELS, MODEL, model)
    for name, value in standin.env().items():
        monkeypatch.setenv(name, value)
    config.settings.cache_clear()
    wiring.reset()
    settings = replace(config.settings(), app_base_url=receiver.url)
    queue = aws.sqs().create_queue(QueueName=f"aisora-dev-test-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    deps = generation.Dependencies(MessageQueue(queue), MediaStore(world.bucket),
                                   {"fal": FalQueue.from_settings(settings)}, 300, 0)
    empty_queue(os.environ["JOBS_QUEUE_URL"])
    yield deps
    monkeypatch.undo()
    config.settings.cache_clear()
    wiring.reset()


def deliver(client, received) -> object:
    body, headers, path = received
    url = urlsplit(path)
    return client.http.post(f"/webhooks/fal?{url.query}", body=body, headers=headers)


def test_a_video_is_made_through_fal_and_its_signed_webhook(client, user, fal_stack, receiver):
    token = user["access_token"]
    created = post(client, "/videos", {"prompt": "Waves at dusk", "model": MODEL, "seconds": 4,
                                       "size": "720x1280"}, token)
    assert created.status_code == 202, created.json_body
    video_id = created.json_body["id"]
    generation.handle_message({"job_id": video_id, "action": "submit"}, fal_stack)
    receiver.wait(1, seconds=60)
    answered = deliver(client, receiver.received[0])
    assert answered.status_code == 200 and answered.json_body["outcome"] == "queued"
    sent = aws.sqs().receive_message(QueueUrl=os.environ["JOBS_QUEUE_URL"], MaxNumberOfMessages=10)
    (check,) = [json.loads(m["Body"]) for m in sent.get("Messages", []) if '"check"' in m["Body"]]
    generation.handle_message(check, fal_stack)
    view = get(client, f"/videos/{video_id}", token).json_body
    assert view["status"] == "completed", view
    assert view["thumbnail_url"]  # fal gives no thumbnail: a poster
    assert get(client, f"/videos/{video_id}/download", token).status_code == 200
    # The same webhook again, late: accepted, and nothing changes.
    assert deliver(client, receiver.received[0]).status_code == 200
    again = get(client, f"/videos/{video_id}", token).json_body
    assert urlsplit(again.pop("thumbnail_url")).path == urlsplit(view.pop("thumbnail_url")).path
    assert again == view


def test_a_stale_or_tampered_fal_webhook_is_400(client, user, fal_stack, standin, receiver):
    created = post(client, "/videos", {"prompt": "Rain on glass", "model": MODEL, "seconds": 4,
                                       "size": "720x1280"}, user["access_token"])
    generation.handle_message({"job_id": created.json_body["id"], "action": "submit"}, fal_stack)
    receiver.wait(1, seconds=60)
    _, _, path = receiver.received[0]
    (job_id,) = standin.jobs
    for forgery in ({"stale": True}, {"tampered": True}, {"unknown_key": True}):
        body, headers = standin.signed(job_id, **forgery)
        answered = deliver(client, (body, headers, path))
        assert answered.status_code == 400, forgery
        assert answered.json_body["error"]["code"] == "bad_signature"
