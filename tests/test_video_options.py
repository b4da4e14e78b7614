"""POST /videos options: sound, a negative prompt, start and end images. An option the model does
not offer is 422 naming the field and charges nothing; sound is priced in; the worker hands every
option to the engine."""

from __future__ import annotations

import io
import uuid

import pytest
from conftest import get, post
from fakes import ScriptedProvider
from PIL import Image

from chalicelib import aws
from chalicelib.adapters.queue import MessageQueue
from chalicelib.adapters.storage import MediaStore
from chalicelib.models import VideoJob
from chalicelib.services import catalogue, credits, generation

VIDEO = {"prompt": "A lighthouse in a storm, waves breaking", "model": "veo-3.1-fast",
         "seconds": 4, "size": "1280x720"}


def balance(client, token):
    return get(client, "/me", token).json_body["credits"]


@pytest.fixture
def rich_user(client, user):
    """A user with credits enough for any single video."""
    user_id = get(client, "/me", user["access_token"]).json_body["id"]
    credits.apply(user_id, 2000, "adjustment", f"test:{uuid.uuid4().hex}")
    return {**user, "id": user_id}


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"model": "hailuo-2.3", "seconds": 6, "audio": True}, "audio"),
        ({"audio": "yes"}, "audio"),
        ({"audio": 1}, "audio"),
        ({"model": "hailuo-2.3", "seconds": 6, "negative_prompt": "blur"}, "negative_prompt"),
        ({"model": "seedance-1.5-pro", "negative_prompt": "blur"}, "negative_prompt"),
        ({"negative_prompt": "x" * 501}, "negative_prompt"),
        ({"negative_prompt": ["blur"]}, "negative_prompt"),
        ({"model": "wan-2.6", "seconds": 5, "reference_upload_id": "a" * 32,
          "end_reference_upload_id": "b" * 32}, "end_reference_upload_id"),
        ({"model": "hailuo-2.3", "seconds": 6, "reference_url": "https://example.com/a.png",
          "end_reference_url": "https://example.com/b.png"}, "end_reference_url"),
        ({"end_reference_url": "https://example.com/b.png"}, "end_reference_url"),  # no start image
        ({"reference_upload_id": "a" * 32, "end_reference_upload_id": "b" * 32,
          "end_reference_url": "https://example.com/b.png"}, "end_reference_url"),
    ],
)
def test_an_option_the_model_does_not_offer_is_422_naming_it_and_charges_nothing(
        client, rich_user, override, field):
    token = rich_user["access_token"]
    before = balance(client, token)
    response = post(client, "/videos", {**VIDEO, **override}, token)
    assert response.status_code == 422, response.json_body
    assert response.json_body["error"]["field"] == field
    assert balance(client, token) == before
    assert get(client, "/videos", token).json_body["videos"] == []


def test_a_model_that_takes_no_start_image_refuses_one():
    no_start = catalogue.VideoModel("silent-film", ("1280x720",), (4,), {"1280x720": 1}, name="Silent")
    with pytest.raises(generation.InvalidInput) as refused:
        generation._check_images({"reference_url": "https://example.com/a.png"}, no_start)
    assert refused.value.field == "reference_url"


@pytest.mark.parametrize(("body", "field"), [
    ({"end_reference_upload_id": "not/an/upload"}, "end_reference_upload_id"),
    ({"end_reference_url": "http://169.254.169.254/latest/"}, "end_reference_url"),
])
def test_a_refused_end_image_names_its_own_field(world, body, field):
    store = MediaStore(world.bucket)
    deps = generation.Dependencies(MessageQueue("unused"), store, ScriptedProvider(), 300, 0)
    with pytest.raises(generation.InvalidInput) as refused:
        generation.resolve_reference("someone", body, deps, which="end")
    assert refused.value.field == field


def test_sound_is_priced_in_and_stored_with_the_options(client, rich_user):
    token = rich_user["access_token"]
    before = balance(client, token)
    body = {**VIDEO, "audio": True, "negative_prompt": "  text overlays  "}
    created = post(client, "/videos", body, token)
    assert created.status_code == 202, created.json_body
    veo = catalogue.MODELS["veo-3.1-fast"]
    expected = 4 * (veo.credits_per_second["1280x720"] + veo.audio_credits_per_second["1280x720"])
    assert created.json_body["cost"] == expected > catalogue.video_cost("veo-3.1-fast", "1280x720", 4)
    assert balance(client, token) == before - expected
    job = VideoJob.get(created.json_body["id"])
    assert job.audio is True and job.negative_prompt == "text overlays"


def test_without_options_a_video_is_silent_with_no_negative_prompt(client, rich_user):
    created = post(client, "/videos", VIDEO, rich_user["access_token"])
    job = VideoJob.get(created.json_body["id"])
    assert job.audio is False and job.negative_prompt is None and job.end_reference_key is None


def picture(colour: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 36), colour).save(out, "PNG")
    return out.getvalue()


def test_the_worker_hands_sound_negative_prompt_and_both_images_to_the_engine(client, rich_user, world):
    store = MediaStore(world.bucket)
    start, end = (f"references/{rich_user['id']}/{uuid.uuid4().hex}" for _ in range(2))
    store.put_bytes(start, picture("red"), "image/png")
    store.put_bytes(end, picture("blue"), "image/png")
    spec = generation.parse_request({**VIDEO, "model": "kling-3", "seconds": 5, "audio": True,
                                     "negative_prompt": "blur"})
    queue = aws.sqs().create_queue(QueueName=f"aisora-dev-test-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    provider = ScriptedProvider("local")
    deps = generation.Dependencies(MessageQueue(queue), store, {"local": provider}, 300, 0)
    job_id = generation.create_video(rich_user["id"], spec, deps, start, end)["id"]
    generation.handle_message({"job_id": job_id, "action": "submit"}, deps)
    (submission,) = provider.submissions
    assert submission.spec.audio is True and submission.spec.negative_prompt == "blur"
    assert submission.spec.model == "kling-3" and submission.spec.seconds == 5
    for image, colour in ((submission.start_image, (255, 0, 0)), (submission.end_image, (0, 0, 255))):
        with Image.open(io.BytesIO(image.data)) as sent:
            assert sent.size == (1280, 720)  # fitted to the video's size
            assert sent.convert("RGB").getpixel((640, 360)) == colour
    assert set(VideoJob.get(job_id).file_keys()) >= {start, end}  # deleted with the video


def test_an_empty_negative_prompt_asks_for_nothing_on_any_model():
    body = {"prompt": "Rain on a tin roof", "model": "hailuo-2.3", "negative_prompt": "  "}
    spec = generation.parse_request(body)
    assert spec.negative_prompt is None


def test_a_model_without_the_first_apis_defaults_gets_its_own():
    spec = generation.parse_request({"prompt": "Rain on a tin roof", "model": "hailuo-2.3"})
    assert (spec.size, spec.seconds, spec.audio) == ("1280x720", 6, False)
    default = generation.parse_request({"prompt": "Rain on a tin roof"})
    assert (default.model, default.size, default.seconds) == (catalogue.DEFAULT_MODEL, "720x1280", 4)
