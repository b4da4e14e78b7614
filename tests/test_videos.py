"""POST/GET/DELETE /videos: validation, credits, ownership, listing and downloads."""

from __future__ import annotations

import base64
import json
import uuid

import pytest
from conftest import get, post, signup_body

from chalicelib.models import VideoJob

FOUR_SECONDS = {"prompt": "Paper boats drift down a rainy street", "model": "veo-3.1-fast",
                "seconds": 4, "size": "720x1280"}


def balance(client, token):
    return get(client, "/me", token).json_body["credits"]


def jobs_of(client, token):
    return get(client, "/videos", token).json_body["videos"]


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"prompt": ""}, "prompt"),
        ({"prompt": "   "}, "prompt"),
        ({"prompt": None}, "prompt"),
        ({"prompt": "x" * 2001}, "prompt"),
        ({"model": "sora-2"}, "model"),  # gone with OpenAI's Videos API
        ({"model": "sora-3"}, "model"),
        ({"model": 7}, "model"),
        ({"size": "640x480"}, "size"),
        ({"size": "1792x1024"}, "size"),  # a size of no current model
        ({"seconds": 5}, "seconds"),
        ({"seconds": "four"}, "seconds"),
        ({"seconds": True}, "seconds"),
    ],
)
def test_invalid_video_request_names_the_field_and_charges_nothing(client, user, override, field):
    token = user["access_token"]
    before = balance(client, token)
    response = post(client, "/videos", {**FOUR_SECONDS, **override}, token)
    assert response.status_code == 422, response.json_body
    assert response.json_body["error"]["field"] == field
    assert balance(client, token) == before
    assert jobs_of(client, token) == []


def test_a_video_needs_a_token(client):
    assert post(client, "/videos", FOUR_SECONDS).status_code == 401


def test_not_enough_credits_is_402_and_changes_nothing(client, user):
    token = user["access_token"]
    assert post(client, "/videos", FOUR_SECONDS, token).status_code == 202
    before = balance(client, token)
    second = post(client, "/videos", FOUR_SECONDS, token)
    assert second.status_code == 402
    assert second.json_body["error"]["code"] == "insufficient_credits"
    assert balance(client, token) == before == 0
    assert len(jobs_of(client, token)) == 1


def test_a_refused_prompt_is_explained_and_charges_nothing(client, user):
    token = user["access_token"]
    response = post(client, "/videos", {**FOUR_SECONDS, "prompt": "a gore-filled battle"}, token)
    assert response.status_code == 422
    assert response.json_body["error"]["code"] == "prompt_refused"
    assert "No credits were charged" in response.json_body["error"]["message"]
    assert balance(client, token) == 40


@pytest.mark.parametrize("disguised", [
    "a g\u200bore-filled battle",  # a zero-width space inside the word
    "a g\u00adore-filled battle",  # a soft hyphen
    "a \uff47\uff4f\uff52\uff45-filled battle",  # fullwidth letters
    "a \u202egore\u202c-filled battle",  # a direction override around it
])
def test_a_refused_word_in_disguise_is_still_refused(client, user, disguised):
    response = post(client, "/videos", {**FOUR_SECONDS, "prompt": disguised}, user["access_token"])
    assert response.status_code == 422 and response.json_body["error"]["code"] == "prompt_refused"
    assert balance(client, user["access_token"]) == 40


def test_job_and_debit_are_written_together(client, user):
    token = user["access_token"]
    job = post(client, "/videos", FOUR_SECONDS, token).json_body
    stored = VideoJob.get(job["id"])
    assert stored.cost == job["cost"] == 40
    history = get(client, "/me/credits", token).json_body["transactions"]
    assert history[0] == {**history[0], "kind": "debit", "amount": -40, "balance_after": 0,
                          "reference": f"job:{job['id']}:debit"}


@pytest.mark.policy("access-control")
def test_another_users_video_is_not_found(client, user):
    job = post(client, "/videos", FOUR_SECONDS, user["access_token"]).json_body
    other = post(client, "/auth/signup", signup_body()).json_body["access_token"]
    for path in (f"/videos/{job['id']}", f"/videos/{job['id']}/download"):
        response = get(client, path, other)
        assert response.status_code == 404
        assert response.json_body["error"]["code"] == "not_found"
    assert client.http.delete(f"/videos/{job['id']}",
                              headers={"Authorization": f"Bearer {other}"}).status_code == 404
    assert VideoJob.get(job["id"]).user_id != ""


def test_download_before_completion_is_409(client, user):
    job = post(client, "/videos", FOUR_SECONDS, user["access_token"]).json_body
    response = get(client, f"/videos/{job['id']}/download", user["access_token"])
    assert response.status_code == 409
    assert response.json_body["error"]["code"] == "not_ready"


def test_videos_are_listed_newest_first_a_page_at_a_time(client, user, world):
    token = user["access_token"]
    user_id = get(client, "/me", token).json_body["id"]
    from chalicelib.services import credits

    credits.apply(user_id, 200, "adjustment", "test:top-up")
    ids = [post(client, "/videos", FOUR_SECONDS, token).json_body["id"] for _ in range(3)]
    first = get(client, "/videos?limit=2", token).json_body
    assert [v["id"] for v in first["videos"]] == ids[::-1][:2]
    assert first["next_cursor"]
    rest = get(client, f"/videos?limit=2&cursor={first['next_cursor']}", token).json_body
    assert [v["id"] for v in rest["videos"]] == ids[:1]


def test_a_cursor_for_another_user_or_forged_is_422(client, user):
    token = user["access_token"]
    forged = base64.urlsafe_b64encode(json.dumps(
        {"user_id": {"S": "someone-else"}, "job_id": {"S": "x"}, "created_at": {"S": "y"}}
    ).encode()).decode()
    for cursor in (forged, "not-base64!", base64.urlsafe_b64encode(b"[1]").decode()):
        response = get(client, f"/videos?cursor={cursor}", token)
        assert response.status_code == 422
        assert response.json_body["error"]["field"] == "cursor"
    assert get(client, "/videos?limit=0", token).status_code == 422


def test_deleting_a_video_removes_it(client, user):
    token = user["access_token"]
    job = post(client, "/videos", FOUR_SECONDS, token).json_body
    deleted = client.http.delete(f"/videos/{job['id']}", headers={"Authorization": f"Bearer {token}"})
    assert deleted.status_code == 204
    assert get(client, f"/videos/{job['id']}", token).status_code == 404


def test_a_video_counted_meanwhile_is_never_lost_though_the_balance_came_back(client, user, world):
    # Request A reads the account; B makes a video and a refund of the same size lands, so the
    # balance is what A read. A's write must still see that B counted one.
    from fakes import ScriptedProvider

    from chalicelib import aws
    from chalicelib.adapters.queue import MessageQueue
    from chalicelib.adapters.storage import MediaStore
    from chalicelib.models import User
    from chalicelib.models.base import utcnow
    from chalicelib.services import credits, generation

    user_id = get(client, "/me", user["access_token"]).json_body["id"]
    queue = aws.sqs().create_queue(QueueName=f"aisora-dev-test-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    engines = {"local": ScriptedProvider()}
    deps = generation.Dependencies(MessageQueue(queue), MediaStore(world.bucket), engines, 300, 0)
    spec = generation.parse_request(FOUR_SECONDS)
    cost = generation.quote(spec)
    credits.apply(user_id, 4 * cost, "adjustment", f"test:{uuid.uuid4().hex}")
    as_a_read_it = credits.read_user(user_id)
    made_by_b = generation.create_video(user_id, spec, deps)["id"]
    credits.apply(user_id, cost, "adjustment", f"test:{uuid.uuid4().hex}")
    now = utcnow()
    credits.apply(user_id, -cost, "debit", "job:made-by-a:debit", read=as_a_read_it,
                  user_actions=lambda fresh: generation._fair_use(fresh, "made-by-a", now))
    counted = User.get(user_id, consistent_read=True)
    assert counted.videos_that_day == 2 and counted.open_jobs == {made_by_b, "made-by-a"}


def test_the_plan_limits_videos_at_once_and_per_day(client, user):
    from chalicelib.services import catalogue, credits

    token = user["access_token"]
    free = catalogue.PLANS["free"]
    user_id = get(client, "/me", token).json_body["id"]
    credits.apply(user_id, 40 * (free.max_per_day + 2), "adjustment", "test:limits")
    for _ in range(free.max_concurrent):
        assert post(client, "/videos", FOUR_SECONDS, token).status_code == 202
    busy = post(client, "/videos", FOUR_SECONDS, token)
    assert busy.status_code == 429 and busy.json_body["error"]["code"] == "limit_reached"
    for job in VideoJob.by_user.query(user_id):  # they finish
        job.update(actions=[VideoJob.status.set("completed")])
    for _ in range(free.max_per_day - free.max_concurrent):
        created = post(client, "/videos", FOUR_SECONDS, token)
        assert created.status_code == 202
        VideoJob(created.json_body["id"]).update(actions=[VideoJob.status.set("completed")])
    tomorrow = post(client, "/videos", FOUR_SECONDS, token)
    assert tomorrow.status_code == 429 and "a day" in tomorrow.json_body["error"]["message"]
    assert get(client, "/me", token).json_body["credits"] == 40 * 3  # refused ones cost nothing
