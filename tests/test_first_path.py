"""The whole first path, in-process: sign up, make a video, watch it progress, download it."""

from __future__ import annotations

import io
import time

import av
import pytest
import requests
from conftest import empty_queue, get, post, signup_body, verify_email

from chalicelib.local.pump import EventPump


@pytest.fixture
def pump(world):
    from app import app

    # Jobs that other tests queued and left are not this test's to render.
    empty_queue(world.queue_urls["JobsQueue"])
    return EventPump(app, prefix="aisora-dev")


def run_until(pump, client, video_id, token, deadline_seconds=90):
    """Pumps queue messages until the video leaves its open states; returns every view seen."""
    seen = []
    stop_at = time.monotonic() + deadline_seconds
    while time.monotonic() < stop_at:
        view = get(client, f"/videos/{video_id}", token).json_body
        seen.append(view)
        if view["status"] not in ("queued", "in_progress"):
            return seen
        if not pump.pump_queues():
            time.sleep(0.05)
    pytest.fail(f"video still {seen[-1]['status']} after {deadline_seconds}s")


def test_a_new_user_makes_downloads_and_plays_a_four_second_video(client, pump):
    # Given a new account
    signup = post(client, "/auth/signup", body := signup_body())
    assert signup.status_code == 201
    token = signup.json_body["access_token"]
    verify_email(client, body["email"])  # the free credits are usable once the address is confirmed
    balance = get(client, "/me", token).json_body["credits"]

    # When it asks for a 4-second video
    created = post(client, "/videos", {"prompt": "A red fox runs through fresh snow at dawn",
                                       "model": "veo-3.1-fast", "seconds": 4, "size": "720x1280"}, token)

    # Then the job is queued and its cost is debited at once
    assert created.status_code == 202, created.json_body
    job = created.json_body
    assert job["status"] == "queued"
    assert get(client, "/me", token).json_body["credits"] == balance - job["cost"]
    history = get(client, "/me/credits", token).json_body["transactions"]
    assert history[0]["kind"] == "debit" and history[0]["amount"] == -job["cost"]

    # And it moves through in_progress, with progress, to completed
    seen = run_until(pump, client, job["id"], token)
    statuses = [v["status"] for v in seen]
    assert statuses[0] == "queued"
    assert "in_progress" in statuses
    assert statuses[-1] == "completed", seen[-1]
    progress = [v["progress"] for v in seen]
    assert progress == sorted(progress)
    assert any(0 < p < 100 for p in progress), progress
    assert seen[-1]["progress"] == 100
    assert seen[-1]["expires_at"] is not None

    # And the download address gives a playable H.264 MP4 of the requested length and size
    download = get(client, f"/videos/{job['id']}/download", token)
    assert download.status_code == 200, download.json_body
    body = requests.get(download.json_body["url"], timeout=10)
    assert body.status_code == 200
    with av.open(io.BytesIO(body.content)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert (stream.codec_context.width, stream.codec_context.height) == (720, 1280)
        assert abs(float(container.duration / av.time_base) - 4.0) < 0.1
