"""A second user tries every route that names the first user's things, and finds nothing:
the same 404 as for something that does not exist, and nothing changes."""

from __future__ import annotations

import json

import pytest
from conftest import get, post, sign_up, verify_email

from chalicelib.models import PrivacyRequest, VideoJob


@pytest.fixture
def owner_and_stranger(client):
    owner = sign_up(client)
    verify_email(client, owner["email"])
    owner = owner["access_token"]
    stranger = sign_up(client)
    verify_email(client, stranger["email"])
    stranger = stranger["access_token"]
    video = post(client, "/videos", {"prompt": "A lighthouse at dusk", "seconds": 4}, owner).json_body["id"]
    export = post(client, "/me/export", {}, owner).json_body["id"]
    return owner, stranger, video, export


def call(client, method, path, token, body=None):
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    return client.http.request(method, path, headers=headers,
                               body=json.dumps(body) if body is not None else b"")


@pytest.mark.policy("access-control")
@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/videos/{video}"),
    ("GET", "/videos/{video}/download"),
    ("DELETE", "/videos/{video}"),
    ("GET", "/me/export/{export}"),
])
def test_another_users_things_are_not_found(client, owner_and_stranger, method, path):
    owner, stranger, video, export = owner_and_stranger
    route = path.format(video=video, export=export)
    theirs = call(client, method, route, stranger)
    missing = call(client, method, path.format(video="0" * 32, export="0" * 32), stranger)
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json_body["error"]["code"] == "not_found"
    assert VideoJob.get(video).status == "queued"  # still there, untouched
    assert call(client, "GET", route.replace("/download", ""), owner).status_code == 200


def test_another_users_videos_are_not_listed(client, owner_and_stranger):
    _, stranger, video, _ = owner_and_stranger
    assert video not in [v["id"] for v in get(client, "/videos", stranger).json_body["videos"]]


def test_another_users_upload_cannot_be_used_as_a_reference(client, owner_and_stranger):
    owner, stranger, _, _ = owner_and_stranger
    grant = post(client, "/uploads", {"content_type": "image/png", "size": 100}, owner).json_body
    borrowed = post(client, "/videos", {"prompt": "Borrowed cat", "seconds": 4,
                                        "reference_upload_id": grant["upload_id"]}, stranger)
    unknown = post(client, "/videos", {"prompt": "Borrowed cat", "seconds": 4,
                                       "reference_upload_id": "0" * 32}, stranger)
    # The same answer as for an upload that never existed: nothing tells them it does.
    assert borrowed.status_code == unknown.status_code == 409
    assert borrowed.json_body == unknown.json_body
    assert get(client, "/me", stranger).json_body["credits"] == 40


@pytest.mark.policy("access-control")
@pytest.mark.parametrize(("method", "path"), [
    ("POST", "/admin/privacy-requests/{request}/close"),
    ("POST", "/admin/privacy-requests/{request}/suspend"),
    ("POST", "/admin/privacy-requests/{request}/reinstate"),
    ("POST", "/admin/privacy-requests/{request}/erase"),
    ("POST", "/admin/privacy-requests/{request}/dismiss"),
    ("GET", "/admin/privacy-requests"),
    ("GET", "/admin/support"),
])
def test_another_users_privacy_request_is_out_of_reach_of_anyone_but_an_operator(
        client, owner_and_stranger, method, path):
    owner, stranger, _, _ = owner_and_stranger
    filed = post(client, "/privacy/requests", {"type": "access", "message": "what do you hold?"}, owner)
    assert filed.status_code == 201
    request_id = filed.json_body["id"]
    theirs = call(client, method, path.format(request=request_id), stranger)
    missing = call(client, method, path.format(request="0" * 32), stranger)
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json_body["error"]["code"] == "not_found"
    assert PrivacyRequest.get(request_id).status == "open"  # still waiting for its answer
