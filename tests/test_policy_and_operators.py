"""Policy versions and material changes, and what operators can do (and who can)."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest
from conftest import empty_queue, get, mail_to, post, signup_body

from chalicelib import admin as admin_command
from chalicelib import aws
from chalicelib.models import AuditEntry, LedgerEntry
from chalicelib.services import admin, policy, policy_notices
from chalicelib.wiring import notice_dependencies

FIRST = policy.VERSIONS[0]
LATEST = policy.VERSIONS[-1]


def changed(days_ago: int, material: bool = True) -> policy.PolicyVersion:
    effective = date.today() - timedelta(days=days_ago)
    return policy.PolicyVersion(
        version=f"{effective.isoformat()}-test", effective_date=effective, last_updated=effective,
        material=material, summary="We now name a second video provider.",
        text_file=FIRST.text_file, video_processors=("openai", "gateway"),
    )


@pytest.mark.policy("policy-changes")
def test_the_policy_lists_its_versions_and_effective_dates(client):
    body = get(client, "/policy").json_body
    assert body["version"] == LATEST.version and body["effective_date"] == LATEST.effective_date.isoformat()
    assert body["versions"][0] == {"version": FIRST.version, "effective_date": "2025-10-08",
                                   "material": True, "summary": FIRST.summary}


def test_a_material_change_asks_for_acceptance_and_a_minor_one_does_not():
    versions = (FIRST, changed(days_ago=1))
    assert policy.needs_acceptance(FIRST.version, versions=versions)
    assert not policy.needs_acceptance(versions[1].version, versions=versions)
    assert not policy.needs_acceptance(FIRST.version, versions=(FIRST, changed(1, material=False)))
    assert not policy.needs_acceptance(FIRST.version, versions=(FIRST, changed(days_ago=-3)))


def test_login_says_whether_acceptance_is_needed_and_acceptance_is_recorded(client, user):
    login = post(client, "/auth/login", {"email": user["email"], "password": user["password"]})
    assert login.json_body["policy_acceptance_required"] is False
    token = user["access_token"]
    assert post(client, "/me/policy-acceptance", {"version": "1999-01-01"}, token).status_code == 422
    assert post(client, "/me/policy-acceptance", {"version": FIRST.version}, token).status_code == 422
    accepted = post(client, "/me/policy-acceptance", {"version": LATEST.version}, token)
    assert accepted.status_code == 200
    assert accepted.json_body["consents"]["privacy_policy"]["acceptance_required"] is False
    assert get(client, "/me/activity", token).json_body["changes"][0]["action"] == "policy_accepted"


def test_the_configured_providers_are_named_by_the_policy():
    config = json.loads(Path(".chalice/config.json").read_text())
    for stage in config["stages"].values():
        provider = stage["environment_variables"].get("VIDEO_PROVIDER", "local")
        assert policy.covers_provider(provider), provider
    assert not policy.covers_provider("another-video-company")


def drain_notices(world, limit=50):
    """Delivers the notice pages the way SQS would, until none is left."""
    sqs = aws.sqs()
    for _ in range(limit):
        messages = sqs.receive_message(QueueUrl=world.queue_urls["NoticesQueue"], MaxNumberOfMessages=10)
        if not messages.get("Messages"):
            return
        for message in messages["Messages"]:
            body = json.loads(message["Body"])
            policy_notices.send_page(NOTICE_VERSION, body["start_key"], notice_dependencies())
            sqs.delete_message(QueueUrl=world.queue_urls["NoticesQueue"],
                               ReceiptHandle=message["ReceiptHandle"])
    pytest.fail("notice pages never ended")


NOTICE_VERSION = changed(days_ago=0)


@pytest.mark.policy("policy-changes")
def test_a_material_change_is_mailed_to_every_active_user_once(client, world):
    opted_out = signup_body(marketing_opt_in=False)
    opted_in = signup_body(marketing_opt_in=True)
    closing = signup_body()
    for body in (opted_out, opted_in, closing):
        post(client, "/auth/signup", body)
    login = {"email": closing["email"], "password": closing["password"]}
    token = post(client, "/auth/login", login).json_body
    client.http.request("DELETE", "/me", body=json.dumps({"password": closing["password"]}),
                        headers={"Authorization": f"Bearer {token['access_token']}",
                                 "Content-Type": "application/json"})
    empty_queue(world.queue_urls["NoticesQueue"])

    policy_notices.send_page(NOTICE_VERSION, None, notice_dependencies())
    drain_notices(world)
    policy_notices.send_page(NOTICE_VERSION, None, notice_dependencies())  # a replayed first page
    drain_notices(world)

    def notices_to(email):
        return [m for m in mail_to(email) if "privacy policy" in m["subject"]]

    assert len(notices_to(opted_out["email"])) == 1  # a service notice, marketing choice aside
    assert len(notices_to(opted_in["email"])) == 1
    assert notices_to(closing["email"]) == []


# --- operators ------------------------------------------------------------------------------


@pytest.fixture
def operator(client):
    body = signup_body()
    post(client, "/auth/signup", body)
    assert admin_command.main(["grant", body["email"]]) == 0
    tokens = post(client, "/auth/login", {"email": body["email"], "password": body["password"]}).json_body
    return {**body, **tokens}


@pytest.mark.parametrize("path", ["/admin/privacy-requests", "/admin/support"])
def test_admin_routes_are_not_there_for_users(client, user, path):
    assert get(client, path, user["access_token"]).status_code == 404
    assert get(client, path).status_code == 401


def test_no_api_call_can_grant_the_admin_role(client, user):
    response = client.http.request("PATCH", "/me", body=json.dumps({"role": "admin"}), headers={
        "Authorization": f"Bearer {user['access_token']}", "Content-Type": "application/json"})
    assert response.status_code == 422
    assert get(client, "/admin/support", user["access_token"]).status_code == 404


def test_operators_see_requests_by_due_date_and_close_them(client, user, operator):
    token = operator["access_token"]
    request_id = post(client, "/privacy/requests", {"type": "correction", "message": "fix my name"},
                      user["access_token"]).json_body["id"]
    listed = get(client, "/admin/privacy-requests", token).json_body["requests"]
    assert request_id in [r["id"] for r in listed]
    assert [r["due_at"] for r in listed] == sorted(r["due_at"] for r in listed)
    assert post(client, f"/admin/privacy-requests/{request_id}/close", {}, token).status_code == 200
    still_open = get(client, "/admin/privacy-requests", token).json_body["requests"]
    assert request_id not in [r["id"] for r in still_open]
    operator_id = get(client, "/me", token).json_body["id"]
    closed = {"action": "admin_closed_privacy_request", "fields": [operator_id, request_id]}
    assert closed in [{"action": a["action"], "fields": a["fields"]} for a in admin.operator_actions()]


def test_an_operators_actions_stay_on_record_when_their_account_is_erased(client, user, operator):
    from chalicelib.services import privacy
    from chalicelib.wiring import privacy_dependencies

    token = operator["access_token"]
    operator_id = get(client, "/me", token).json_body["id"]
    request_id = post(client, "/privacy/requests", {"type": "other"}, user["access_token"]).json_body["id"]
    assert post(client, f"/admin/privacy-requests/{request_id}/close", {}, token).status_code == 200
    closing = client.http.request("DELETE", "/me", body=json.dumps({"password": operator["password"]}),
                                  headers={"Authorization": f"Bearer {token}",
                                           "Content-Type": "application/json"})
    assert closing.status_code == 202
    assert privacy.erase_account(operator_id, privacy_dependencies()) == 1
    assert list(AuditEntry.query(operator_id)) == []  # their own account's trail went with it
    assert [operator_id, request_id] in [a["fields"] for a in admin.operator_actions()]


def test_operators_adjust_credits_with_a_reason_in_the_ledger(client, user, operator):
    user_id = get(client, "/me", user["access_token"]).json_body["id"]
    bad = post(client, "/admin/credits", {"user_id": user_id, "amount": 10}, operator["access_token"])
    assert bad.status_code == 422 and bad.json_body["error"]["field"] == "reason"
    done = post(client, "/admin/credits", {"user_id": user_id, "amount": 25, "reason": "video failed twice"},
                operator["access_token"])
    assert done.status_code == 200 and done.json_body["balance"] == 65
    newest = next(iter(LedgerEntry.by_time.query(user_id, scan_index_forward=False)))
    assert newest.kind == "adjustment"


def test_publishing_queues_the_notice(client, operator, world):
    empty_queue(world.queue_urls["NoticesQueue"])
    published = post(client, "/admin/policy/publish", {"version": FIRST.version}, operator["access_token"])
    assert published.status_code == 202
    (message,) = aws.sqs().receive_message(QueueUrl=world.queue_urls["NoticesQueue"])["Messages"]
    expected = {"kind": "policy_notice", "version": FIRST.version, "start_key": None}
    assert json.loads(message["Body"]) == expected
    wrong = post(client, "/admin/policy/publish", {"version": "nope"}, operator["access_token"])
    assert wrong.status_code == 422
