"""The Replicate adapter end to end against the Replicate stand-in, over real HTTP on loopback."""

from __future__ import annotations

import json
import time
from dataclasses import replace

import pytest

from chalicelib.adapters.engine_http import Timeouts
from chalicelib.adapters.replicate import ReplicatePredictions, verify_webhook
from chalicelib.adapters.video import (
    ProviderRefused,
    ProviderUnavailable,
    ReferenceImage,
    Submission,
    SubmitUnknown,
    VideoSpec,
    WebhookInvalid,
)
from chalicelib.config import settings
from chalicelib.local.standins.base import JobPlan, Reply
from chalicelib.local.standins.replicate import ReplicateStandIn
from tests.engine_standins import Given, Receiver, closed_port, tiny_mp4, tiny_render, wait_for

PNG = ReferenceImage(b"\x89PNG\r\n\x1a\nstart", "image/png")
JPEG = ReferenceImage(b"\xff\xd8\xffend", "image/jpeg")
PNG_URI, JPEG_URI = "data:image/png;base64,", "data:image/jpeg;base64,"
QUICK = Timeouts(connect=1.0, submit=0.5, read=2.0)


def submission(engine_model: str = "google/veo-3.1", **spec: object) -> Submission:
    images = {name: spec.pop(name) for name in ("start_image", "end_image") if name in spec}
    fields = {"prompt": "A paper crane unfolds", "model": "veo-3.1", "seconds": 8, "size": "1280x720", **spec}
    return Submission(VideoSpec(**fields), engine_model=engine_model, job_id="job_1", **images)  # type: ignore[arg-type]


@pytest.fixture
def standin():
    with ReplicateStandIn(render=tiny_render, retry_seconds=0.05) as server:
        yield server


@pytest.fixture
def config(standin):
    return replace(settings(), replicate_api_token=Given(standin.token), replicate_base_url=standin.url,
                   replicate_webhook_secret=Given(standin.secret))


@pytest.fixture
def predictions(config):
    return ReplicatePredictions.from_settings(config, timeouts=QUICK)


def test_a_video_is_created_polled_and_downloaded(standin, predictions, config):
    job_id = predictions.create(submission())
    assert wait_for(lambda: predictions.retrieve(job_id), "completed").progress == 100
    with predictions.open_content(job_id, "video") as video:
        assert video.read() == tiny_mp4()
    assert predictions.open_content(job_id, "thumbnail") is None
    (seen,) = standin.steps("submit")
    assert seen.path == "/v1/models/google/veo-3.1/predictions"
    assert seen.headers["Authorization"] == f"Bearer {standin.token}"
    sent = json.loads(seen.body)
    assert sent["webhook"] == f"{config.app_base_url}/webhooks/replicate"
    assert sent["webhook_events_filter"] == ["completed"]
    assert {s.path for s in standin.steps("status")} == {f"/v1/predictions/{job_id}"}


@pytest.mark.parametrize(("engine_model", "spec", "expected", "absent"), [
    ("google/veo-3.1", {"size": "1080x1920", "audio": True, "negative_prompt": "blur", "start_image": PNG,
                        "end_image": JPEG},
     {"duration": 8, "aspect_ratio": "9:16", "resolution": "1080p", "generate_audio": True,
      "negative_prompt": "blur", "image": PNG_URI, "last_frame": JPEG_URI}, ()),
    ("kwaivgi/kling-v2.6", {"seconds": 5, "size": "720x720", "start_image": PNG},
     {"duration": 5, "aspect_ratio": "1:1", "generate_audio": False, "start_image": PNG_URI},
     ("resolution", "image")),
    ("bytedance/seedance-1-pro", {"seconds": 10, "size": "1920x1080"},
     {"duration": 10, "aspect_ratio": "16:9", "resolution": "1080p"}, ("generate_audio", "negative_prompt")),
])
def test_each_model_gets_its_input_in_its_own_shape(standin, predictions, engine_model, spec, expected,
                                                    absent):
    predictions.create(submission(engine_model, **spec))
    sent = json.loads(standin.steps("submit")[0].body)["input"]
    for name, value in expected.items():
        assert sent[name].startswith(value) if isinstance(value, str) and value.startswith("data:") \
            else sent[name] == value, name
    for name in absent:
        assert name not in sent


@pytest.mark.parametrize(("engine_model", "spec", "words"), [
    ("kwaivgi/kling-v2.5-turbo-pro", {"audio": True}, "audio"),
    ("kwaivgi/kling-v2.6", {"start_image": PNG, "end_image": JPEG}, "end image"),
    ("bytedance/seedance-1-pro", {"size": "1280x720"}, "resolution 720p"),
    ("openai/sora-2", {}, "no input shape"),
])
def test_an_option_the_model_lacks_is_refused_before_anything_is_sent(standin, predictions, engine_model,
                                                                      spec, words):
    with pytest.raises(ProviderRefused, match=words):
        predictions.create(submission(engine_model, **spec))
    assert standin.steps("submit") == []


@pytest.mark.parametrize("status", [429, 500, 503])
def test_a_create_answered_429_or_5xx_is_unavailable_and_sent_once(standin, predictions, status):
    standin.script("submit", Reply(status, {"title": "busy", "detail": "try later", "status": status}))
    with pytest.raises(ProviderUnavailable) as raised:
        predictions.create(submission())
    assert not isinstance(raised.value, SubmitUnknown)
    assert len(standin.steps("submit")) == 1


def test_an_engine_that_refuses_the_connection_is_unavailable(config):
    down = replace(config, replicate_base_url=f"http://127.0.0.1:{closed_port()}")
    with pytest.raises(ProviderUnavailable) as raised:
        ReplicatePredictions.from_settings(down, timeouts=QUICK).create(submission())
    assert not isinstance(raised.value, SubmitUnknown)


def test_invalid_input_is_refused_with_replicates_reason(standin, predictions):
    detail = "prompt: String length must be less than 2000"
    standin.script("submit", Reply(422, {"title": "Invalid input", "detail": detail, "status": 422}))
    with pytest.raises(ProviderRefused, match="prompt: String length"):
        predictions.create(submission())


@pytest.mark.parametrize("reply", [Reply(hang=2.0), Reply(cut=True)], ids=["hangs", "hangs-up"])
def test_a_create_whose_answer_is_lost_is_unknown_and_never_sent_again(standin, predictions, reply):
    standin.script("submit", reply)
    with pytest.raises(SubmitUnknown):
        predictions.create(submission())
    time.sleep(0.3)
    assert len(standin.steps("submit")) == 1


def test_a_read_is_retried_through_a_passing_429(standin, predictions):
    job_id = predictions.create(submission())
    standin.script("status", Reply(429, {"title": "throttled", "status": 429}))
    assert predictions.retrieve(job_id).state in ("in_progress", "completed")
    assert len(standin.steps("status")) == 2


def test_a_failed_prediction_is_failed_with_its_reason(standin, predictions):
    standin.plan(JobPlan(outcome="fail", error="NSFW content detected"))
    job_id = predictions.create(submission())
    status = wait_for(lambda: predictions.retrieve(job_id), "failed")
    assert status.state == "failed" and "NSFW content detected" in (status.error or "")


def test_a_prediction_that_never_finishes_stays_queued_and_is_cancelled(standin, predictions):
    standin.plan(JobPlan(outcome="never"))
    job_id = predictions.create(submission())
    assert predictions.retrieve(job_id).state == "queued"
    predictions.delete(job_id)
    assert predictions.retrieve(job_id) == predictions.retrieve(job_id)
    assert predictions.retrieve(job_id).state == "failed"
    predictions.delete("unknownprediction")  # 404: nothing left running, not an error


def test_a_succeeded_prediction_without_a_video_is_failed(standin, predictions):
    job_id = predictions.create(submission())
    wait_for(lambda: predictions.retrieve(job_id), "completed")
    standin.script("status", Reply(200, {"id": job_id, "status": "succeeded", "output": None}))
    assert predictions.retrieve(job_id).state == "failed"


def test_a_truncated_download_is_unavailable_so_it_is_tried_again(standin, predictions):
    standin.plan(JobPlan(truncate=True))
    job_id = predictions.create(submission())
    wait_for(lambda: predictions.retrieve(job_id), "completed")
    with pytest.raises(ProviderUnavailable, match="cut short"):
        predictions.open_content(job_id, "video")


@pytest.mark.parametrize(("result_url", "words"), [
    ("https://attacker.example/out.mp4", "not one of its hosts"),
    ("http://10.0.0.7/out.mp4", "not one of its hosts"),
    ("https://replicate.delivery/xezq/out.mp4", "private address"),
])
def test_a_result_elsewhere_or_on_a_private_address_is_refused(standin, config, result_url, words):
    predictions = ReplicatePredictions.from_settings(config, resolve=lambda host, port: ["192.168.1.4"],
                                                     timeouts=QUICK)
    standin.plan(JobPlan(result_url=result_url))
    job_id = predictions.create(submission())
    wait_for(lambda: predictions.retrieve(job_id), "completed")
    with pytest.raises(ProviderRefused, match=words):
        predictions.open_content(job_id, "video")
    assert standin.steps("media") == []


# --- webhooks -----------------------------------------------------------------------------


@pytest.fixture
def finished(standin, predictions):
    job_id = predictions.create(submission())
    wait_for(lambda: predictions.retrieve(job_id), "completed")
    return job_id


def test_a_signed_webhook_names_the_prediction(standin, config, finished):
    assert verify_webhook(*standin.signed(finished), config).provider_job_id == finished


@pytest.mark.parametrize("change", [{"stale": True}, {"tampered": True}, {"unknown_key": True}],
                         ids=["stale", "tampered", "forged"])
def test_a_stale_tampered_or_forged_webhook_is_invalid(standin, config, finished, change):
    with pytest.raises(WebhookInvalid):
        verify_webhook(*standin.signed(finished, **change), config)


@pytest.mark.parametrize("header", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_an_unsigned_webhook_is_invalid(standin, config, finished, header):
    body, headers = standin.signed(finished)
    del headers[header]
    with pytest.raises(WebhookInvalid):
        verify_webhook(body, headers, config)


def test_a_signature_replayed_under_another_message_id_is_invalid(standin, config, finished):
    body, headers = standin.signed(finished)
    with pytest.raises(WebhookInvalid):
        verify_webhook(body, {**headers, "webhook-id": "msg_other"}, config)


def test_one_of_several_listed_signatures_is_enough(standin, config, finished):
    body, headers = standin.signed(finished)
    headers["webhook-signature"] = "v1,bm90IG91cnM= " + headers["webhook-signature"]
    assert verify_webhook(body, headers, config).provider_job_id == finished


def test_without_a_secret_no_webhook_is_taken(standin, config, finished):
    with pytest.raises(WebhookInvalid, match="REPLICATE_WEBHOOK_SECRET"):
        verify_webhook(*standin.signed(finished), replace(config, replicate_webhook_secret=None))


def test_the_stand_in_delivers_each_webhook_until_it_is_taken(standin, config):
    receiver = Receiver(502)
    try:
        predictions = ReplicatePredictions.from_settings(replace(config, app_base_url=receiver.url),
                                                         timeouts=QUICK)
        standin.plan(JobPlan(webhook_copies=2))
        job_id = predictions.create(submission())
        receiver.wait(3)
        assert len(receiver.received) == 3
        ids = {value for _, headers, _ in receiver.received for name, value in headers.items()
               if name.lower() == "webhook-id"}
        assert ids == {f"msg_{job_id}"}  # one message, delivered again under the same id
        for body, headers, path in receiver.received:
            assert path == "/webhooks/replicate"
            assert verify_webhook(body, headers, config).provider_job_id == job_id
    finally:
        receiver.close()
