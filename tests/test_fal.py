"""The fal adapter end to end against the fal stand-in, over real HTTP on loopback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import replace
from urllib.parse import parse_qs, urlsplit

import pytest
import urllib3

from chalicelib.adapters import fal_webhook
from chalicelib.adapters.engine_http import Timeouts
from chalicelib.adapters.engine_media import MediaHosts
from chalicelib.adapters.fal import FalQueue, verify_webhook
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
from chalicelib.local.standins.fal import FalStandIn
from tests.engine_standins import Given, Receiver, closed_port, tiny_mp4, tiny_render, wait_for

PNG = ReferenceImage(b"\x89PNG\r\n\x1a\nstart", "image/png")
PNG_URI, JPEG_URI = "data:image/png;base64,", "data:image/jpeg;base64,"
JPEG = ReferenceImage(b"\xff\xd8\xffend", "image/jpeg")
QUICK = Timeouts(connect=1.0, submit=0.5, read=2.0)


def submission(engine_model: str = "fal-ai/veo3.1", **spec: object) -> Submission:
    images = {name: spec.pop(name) for name in ("start_image", "end_image") if name in spec}
    fields = {"prompt": "A paper crane unfolds", "model": "veo-3.1", "seconds": 8, "size": "1280x720", **spec}
    return Submission(VideoSpec(**fields), engine_model=engine_model, job_id="job_1", **images)  # type: ignore[arg-type]


@pytest.fixture
def standin():
    with FalStandIn(render=tiny_render, retry_seconds=0.05) as server:
        yield server


@pytest.fixture
def config(standin):
    fal_webhook.KEYS.clear()
    return replace(settings(), fal_key=Given(standin.key), fal_queue_url=standin.url,
                   fal_jwks_url=standin.jwks_url)


@pytest.fixture
def queue(config):
    return FalQueue.from_settings(config, timeouts=QUICK)


def submitted(standin: FalStandIn) -> dict:
    (seen,) = standin.steps("submit")
    return json.loads(seen.body)


# --- submit, status, result, cancel -----------------------------------------------------


def test_a_video_is_submitted_polled_and_downloaded(standin, queue, config):
    job_id = queue.create(submission())
    assert job_id.startswith("fal-ai/veo3.1/requests/")
    assert wait_for(lambda: queue.retrieve(job_id), "completed").progress == 100
    with queue.open_content(job_id, "video") as video:
        assert video.read() == tiny_mp4()
    assert queue.open_content(job_id, "thumbnail") is None
    (seen,) = standin.steps("submit")
    assert seen.headers["Authorization"] == f"Key {standin.key}"
    webhook = parse_qs(urlsplit(seen.path).query)["fal_webhook"][0]
    assert webhook == f"{config.app_base_url}/webhooks/fal?app=fal-ai%2Fveo3.1"
    # Polled without the endpoint's sub-path, as fal documents.
    assert all(s.path.startswith(f"/{job_id}") for s in standin.steps("status"))


@pytest.mark.parametrize(("engine_model", "spec", "endpoint", "expected", "absent"), [
    ("fal-ai/veo3.1", {"seconds": 8, "size": "1080x1920", "audio": True, "negative_prompt": "blur"},
     "fal-ai/veo3.1", {"duration": "8s", "aspect_ratio": "9:16", "resolution": "1080p",
                       "generate_audio": True, "negative_prompt": "blur"}, ()),
    ("fal-ai/veo3.1/fast", {"seconds": 4, "start_image": PNG},
     "fal-ai/veo3.1/fast/image-to-video", {"duration": "4s", "aspect_ratio": "16:9", "resolution": "720p",
                                           "generate_audio": False, "image_url": PNG_URI}, ()),
    ("fal-ai/veo3.1", {"seconds": 6, "start_image": PNG, "end_image": JPEG},
     "fal-ai/veo3.1/first-last-frame-to-video",
     {"duration": "6s", "aspect_ratio": "16:9", "first_frame_url": PNG_URI, "last_frame_url": JPEG_URI},
     ("image_url",)),
    ("fal-ai/kling-video/v3/pro/text-to-video", {"seconds": 5, "size": "720x720"},
     "fal-ai/kling-video/v3/pro/text-to-video", {"duration": "5", "aspect_ratio": "1:1"}, ("resolution",)),
    ("fal-ai/kling-video/v3/pro/text-to-video", {"seconds": 10, "start_image": PNG, "end_image": JPEG},
     "fal-ai/kling-video/v3/pro/image-to-video",
     {"duration": "10", "start_image_url": PNG_URI, "end_image_url": JPEG_URI},
     ("aspect_ratio", "image_url")),
    ("fal-ai/bytedance/seedance/v1.5/pro/text-to-video", {"seconds": 6, "size": "1920x1080", "audio": True},
     "fal-ai/bytedance/seedance/v1.5/pro/text-to-video",
     {"duration": "6", "aspect_ratio": "16:9", "resolution": "1080p", "generate_audio": True}, ()),
    ("wan/v2.6/text-to-video", {"seconds": 10, "negative_prompt": "text"},
     "wan/v2.6/text-to-video", {"duration": "10", "resolution": "720p", "negative_prompt": "text"},
     ("generate_audio",)),
    ("fal-ai/minimax/hailuo-2.3/pro/text-to-video", {"seconds": 6, "start_image": PNG},
     "fal-ai/minimax/hailuo-2.3/pro/image-to-video", {"image_url": "data:image/png;base64,"},
     ("duration", "aspect_ratio", "resolution")),
])
def test_each_model_gets_its_input_in_its_own_shape(standin, queue, engine_model, spec, endpoint, expected,
                                                    absent):
    queue.create(submission(engine_model, **spec))
    (seen,) = standin.steps("submit")
    assert urlsplit(seen.path).path == f"/{endpoint}"
    sent = json.loads(seen.body)
    for name, value in expected.items():
        assert sent[name].startswith(value) if name.endswith("url") else sent[name] == value, name
    for name in absent:
        assert name not in sent


@pytest.mark.parametrize(("engine_model", "spec", "words"), [
    ("wan/v2.6/text-to-video", {"audio": True}, "audio"),
    ("fal-ai/bytedance/seedance/v1.5/pro/text-to-video", {"negative_prompt": "x"}, "negative prompt"),
    ("wan/v2.6/text-to-video", {"start_image": PNG, "end_image": JPEG}, "end image"),
    ("fal-ai/veo3.1", {"end_image": JPEG}, "end image without a start image"),
    ("fal-ai/veo3.1", {"size": "720x720"}, "aspect ratio 1:1"),
    ("fal-ai/sora-2", {}, "no input shape"),
])
def test_an_option_the_model_lacks_is_refused_before_anything_is_sent(standin, queue, engine_model, spec,
                                                                      words):
    with pytest.raises(ProviderRefused, match=words):
        queue.create(submission(engine_model, **spec))
    assert standin.steps("submit") == []


@pytest.mark.parametrize("status", [429, 500, 502, 503])
def test_a_submit_answered_429_or_5xx_is_unavailable_and_sent_once(standin, queue, status):
    standin.script("submit", Reply(status, {"detail": "busy"}))
    with pytest.raises(ProviderUnavailable) as raised:
        queue.create(submission())
    assert not isinstance(raised.value, SubmitUnknown)
    assert len(standin.steps("submit")) == 1


def test_an_engine_that_refuses_the_connection_is_unavailable(config):
    down = FalQueue.from_settings(replace(config, fal_queue_url=f"http://127.0.0.1:{closed_port()}"),
                                  timeouts=QUICK)
    with pytest.raises(ProviderUnavailable) as raised:
        down.create(submission())
    assert not isinstance(raised.value, SubmitUnknown)


def test_a_wrong_key_is_unavailable_not_the_users_fault(config):
    with pytest.raises(ProviderUnavailable, match="401") as raised:
        FalQueue.from_settings(replace(config, fal_key=Given("wrong")), timeouts=QUICK).create(submission())
    assert not isinstance(raised.value, SubmitUnknown)


def test_a_validation_error_is_refused_with_fals_reason(standin, queue):
    standin.script("submit", Reply(422, {"detail": [{"loc": ["body", "prompt"], "msg": "too long",
                                                     "type": "value_error"}]}))
    with pytest.raises(ProviderRefused, match="prompt: too long"):
        queue.create(submission())


def test_a_content_policy_refusal_says_so(standin, queue):
    standin.script("submit", Reply(422, {"detail": "flagged by the safety checker"},
                                   {"X-Fal-Error-Type": "content_policy_violation"}))
    with pytest.raises(ProviderRefused, match="refused the request's content"):
        queue.create(submission())


def test_a_badly_shaped_input_is_refused_by_the_stand_in_as_fal_would(standin, queue):
    # The stand-in checks the documented field formats: Veo's duration is "8s", not 8.
    with pytest.raises(ProviderRefused, match="duration"):
        queue._http.submit(f"{standin.url}/fal-ai/veo3.1", {"prompt": "x", "duration": 8},
                           lambda answer: str(answer.body))


@pytest.mark.parametrize("reply", [Reply(hang=2.0), Reply(cut=True)], ids=["hangs", "hangs-up"])
def test_a_submit_whose_answer_is_lost_is_unknown_and_never_sent_again(standin, queue, reply):
    standin.script("submit", reply)
    with pytest.raises(SubmitUnknown):
        queue.create(submission())
    time.sleep(0.3)
    assert len(standin.steps("submit")) == 1


def test_a_status_read_is_retried_through_a_passing_503(standin, queue):
    job_id = queue.create(submission())
    standin.script("status", Reply(503, {"detail": "busy"}))
    assert queue.retrieve(job_id).state in ("queued", "in_progress", "completed")
    assert len(standin.steps("status")) >= 2


def test_a_job_fal_fails_is_failed_with_its_reason(standin, queue):
    standin.plan(JobPlan(outcome="fail", error="The prompt could not be rendered."))
    job_id = queue.create(submission())
    status = wait_for(lambda: queue.retrieve(job_id), "failed")
    assert status.state == "failed"
    assert "The prompt could not be rendered." in (status.error or "")


def test_a_job_that_never_finishes_stays_queued_and_is_cancelled(standin, queue):
    standin.plan(JobPlan(outcome="never"))
    job_id = queue.create(submission())
    assert queue.retrieve(job_id).state == "queued"
    queue.delete(job_id)
    assert [s.method for s in standin.steps("cancel")] == ["PUT"]
    assert queue.retrieve(job_id).state == "failed"


def test_cancelling_a_finished_or_unknown_job_is_not_an_error(standin, queue):
    job_id = queue.create(submission())
    wait_for(lambda: queue.retrieve(job_id), "completed")
    queue.delete(job_id)  # 400 ALREADY_COMPLETED
    queue.delete("fal-ai/veo3.1/requests/0000-gone")  # 404 NOT_FOUND
    assert len(standin.steps("cancel")) == 2


def test_garbage_from_fal_fails_the_job_with_a_reason(standin, queue):
    job_id = queue.create(submission())
    standin.script("status", Reply(200, b"<html>oops</html>"))
    status = queue.retrieve(job_id)
    assert status.state == "failed" and "no status it documents" in (status.error or "")


def test_an_id_that_is_not_a_fal_job_is_never_put_into_a_url(queue):
    with pytest.raises(ValueError):
        queue.retrieve("fal-ai/veo3.1/requests/../../admin")


# --- the download -------------------------------------------------------------------------


def test_a_truncated_download_is_unavailable_so_it_is_tried_again(standin, queue):
    standin.plan(JobPlan(truncate=True))
    job_id = queue.create(submission())
    wait_for(lambda: queue.retrieve(job_id), "completed")
    with pytest.raises(ProviderUnavailable, match="cut short"):
        queue.open_content(job_id, "video")


@pytest.mark.parametrize(("result_url", "words"), [
    ("https://attacker.example/video.mp4", "not one of its hosts"),
    ("http://169.254.169.254/latest/meta-data", "not one of its hosts"),
    ("http://v3.fal.media/video.mp4", "not on https"),
    ("https://v3.fal.media/video.mp4", "private address"),
    ("https://fal.media.attacker.example/video.mp4", "not one of its hosts"),
    ("http://127.0.0.1:1/video.mp4", "not one of its hosts"),  # the API's host, but not its port
])
def test_a_result_elsewhere_or_on_a_private_address_is_refused(standin, config, result_url, words):
    # fal's CDN names resolve, here, to a private address: the download must not go there.
    queue = FalQueue.from_settings(config, resolve=lambda host, port: ["10.0.0.7"], timeouts=QUICK)
    standin.plan(JobPlan(result_url=result_url))
    job_id = queue.create(submission())
    wait_for(lambda: queue.retrieve(job_id), "completed")
    with pytest.raises(ProviderRefused, match=words):
        queue.open_content(job_id, "video")
    assert standin.steps("media") == []


def test_a_redirect_off_the_engines_hosts_is_refused(standin, queue):
    job_id = queue.create(submission())
    wait_for(lambda: queue.retrieve(job_id), "completed")
    standin.script("media", Reply(302, b"", {"Location": "http://10.1.2.3/video.mp4"}))
    with pytest.raises(ProviderRefused, match="not one of its hosts"):
        queue.open_content(job_id, "video")


def test_a_download_larger_than_the_bound_is_refused(standin, queue):
    job_id = queue.create(submission())
    wait_for(lambda: queue.retrieve(job_id), "completed")
    media = MediaHosts("fal", standin.url, ("fal.media",))
    url = f"{standin.url}/files/{job_id.rsplit('/', 1)[1]}.mp4"
    with pytest.raises(ProviderRefused, match="larger than"):
        media.open(url, max_bytes=len(tiny_mp4()) - 1)


# --- webhooks -----------------------------------------------------------------------------


@pytest.fixture
def finished(standin, queue):
    job_id = queue.create(submission())
    wait_for(lambda: queue.retrieve(job_id), "completed")
    return job_id, job_id.rsplit("/", 1)[1]


APP = {"app": "fal-ai/veo3.1"}


def test_a_signed_webhook_names_the_job(standin, config, finished):
    job_id, request_id = finished
    body, headers = standin.signed(request_id)
    assert verify_webhook(body, headers, config, query=APP).provider_job_id == job_id


@pytest.mark.parametrize("change", [{"stale": True}, {"tampered": True}, {"unknown_key": True}],
                         ids=["stale", "tampered", "unknown-key"])
def test_a_stale_tampered_or_foreign_webhook_is_invalid(standin, config, finished, change):
    body, headers = standin.signed(finished[1], **change)
    with pytest.raises(WebhookInvalid):
        verify_webhook(body, headers, config, query=APP)


@pytest.mark.parametrize("header", ["X-Fal-Webhook-Signature", "X-Fal-Webhook-Timestamp",
                                    "X-Fal-Webhook-Request-Id", "X-Fal-Webhook-User-Id"])
def test_an_unsigned_webhook_is_invalid(standin, config, finished, header):
    body, headers = standin.signed(finished[1])
    del headers[header]
    with pytest.raises(WebhookInvalid):
        verify_webhook(body, headers, config, query=APP)


def test_a_signature_made_for_another_request_is_invalid(standin, config, finished):
    body, headers = standin.signed(finished[1])
    with pytest.raises(WebhookInvalid):
        verify_webhook(body, {**headers, "X-Fal-Webhook-Request-Id": "other-id"}, config, query=APP)


def test_a_webhook_that_names_no_app_is_invalid(standin, config, finished):
    body, headers = standin.signed(finished[1])
    for query in (None, {"app": "../x"}):
        with pytest.raises(WebhookInvalid):
            verify_webhook(body, headers, config, query=query)


def test_the_key_set_is_fetched_once_for_many_webhooks_forged_or_not(standin, config, finished):
    good = standin.signed(finished[1])
    forged = standin.signed(finished[1], unknown_key=True)
    for _ in range(3):
        verify_webhook(*good, config, query=APP)
        with pytest.raises(WebhookInvalid):
            verify_webhook(*forged, config, query=APP)
    assert len(standin.steps("jwks")) == 1


def test_a_rotated_key_is_fetched_again_once_the_cache_is_a_minute_old(standin, config, finished):
    now = time.time()
    verify_webhook(*standin.signed(finished[1]), config, now=now, query=APP)
    standin.rotate_key()
    rotated = standin.signed(finished[1])
    with pytest.raises(WebhookInvalid):  # within the minute: a forged stream cannot force fetches
        verify_webhook(*rotated, config, now=now + 1, query=APP)
    verify_webhook(*rotated, config, now=now + 61, query=APP)
    assert len(standin.steps("jwks")) == 2


def test_the_stand_in_delivers_each_webhook_until_it_is_taken(standin, config):
    receiver = Receiver(500, 503)
    try:
        queue = FalQueue.from_settings(replace(config, app_base_url=receiver.url), timeouts=QUICK)
        standin.plan(JobPlan(webhook_copies=2))
        job_id = queue.create(submission())
        receiver.wait(4)
        assert len(receiver.received) == 4  # two refused, then the duplicate
        for body, headers, path in receiver.received:
            query = {k: v[0] for k, v in parse_qs(urlsplit(path).query).items()}
            assert verify_webhook(body, headers, config, query=query).provider_job_id == job_id
    finally:
        receiver.close()


def test_importing_the_engine_adapters_loads_no_sdk():
    # Cold start: the worker imports only the adapter it uses, and neither brings an SDK with it.
    code = ("import sys, chalicelib.adapters.fal, chalicelib.adapters.replicate; "
            "print(sorted(m for m in ('fal_client', 'replicate', 'httpx', 'httpx2', 'openai', "
            "'cryptography', "
            "'nacl', 'av', 'numpy', 'PIL') if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "[]"


def test_the_stand_in_runs_alone_and_prints_the_environment_for_the_app():
    process = subprocess.Popen([sys.executable, "-m", "chalicelib.local.standins.fal", "--port", "0"],
                               stdout=subprocess.PIPE, text=True, env={**os.environ, "FAL_KEY": "fixed-key"})
    try:
        assert process.stdout is not None
        env = dict(pair.split("=", 1) for pair in process.stdout.readline().split())
        assert env["FAL_KEY"] == "fixed-key"
        assert env["FAL_JWKS_URL"] == env["FAL_QUEUE_URL"] + "/.well-known/jwks.json"
        keys = json.loads(urllib3.request("GET", env["FAL_JWKS_URL"]).data)["keys"]
        assert [key["crv"] for key in keys] == ["Ed25519"]
        missing = urllib3.request("GET", env["FAL_QUEUE_URL"] + "/fal-ai/veo3.1/requests/x/status",
                                  headers={"Authorization": "Key fixed-key"})
        assert missing.status == 404
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_an_early_and_a_late_webhook_are_both_delivered_signed(standin, config):
    receiver = Receiver()
    try:
        queue = FalQueue.from_settings(replace(config, app_base_url=receiver.url), timeouts=QUICK)
        standin.plan(JobPlan(early_webhook=True, webhook_delay=0.5))
        job_id = queue.create(submission())
        receiver.wait(2)
        early, late = (json.loads(body) for body, _, _ in receiver.received)
        assert early["payload"] is None and late["payload"]["video"]["url"].endswith(".mp4")
        for body, headers, _ in receiver.received:
            assert verify_webhook(body, headers, config, query=APP).provider_job_id == job_id
    finally:
        receiver.close()


def test_every_fal_and_replicate_route_of_the_catalogue_has_an_input_shape():
    from chalicelib.adapters import fal, replicate
    from chalicelib.services import catalogue

    shapes = {"fal": fal.MODELS, "replicate": replicate.MODELS}
    routes = [(model.id, route) for model in catalogue.MODELS.values() for route in model.routes
              if route.provider in shapes]
    assert [(model_id, route) for model_id, route in routes
            if route.engine_model not in shapes[route.provider]] == []
