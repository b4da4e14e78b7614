"""The privacy policy's rights, end to end: export, deletion and erasure, consent, requests
and support, each against its promise."""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlparse

import boto3
import pytest
import requests
import time_machine
from conftest import empty_queue, get, mail_to, new_email, post, signup_body, verify_email
from fakes import ScriptedProvider

from chalicelib import aws
from chalicelib.adapters.queue import MessageQueue
from chalicelib.adapters.storage import MediaStore
from chalicelib.adapters.video import ProviderStatus
from chalicelib.models import ALL_MODELS, DataExport, LedgerEntry
from chalicelib.services import generation, inbox, privacy, throttling

VIDEO = {"prompt": "A lantern floating over a dark lake", "seconds": 4, "size": "720x1280"}


def login(client, email, password):
    return post(client, "/auth/login", {"email": email, "password": password})


def delete_me(client, token, body):
    return client.http.request("DELETE", "/me", body=json.dumps(body), headers={
        "Content-Type": "application/json", "Authorization": f"Bearer {token}"})


def patch(client, path, body, token):
    return client.http.request("PATCH", path, body=json.dumps(body), headers={
        "Content-Type": "application/json", "Authorization": f"Bearer {token}"})


def tick(client):
    return client.events.generate_cw_event(source="aws.events", detail_type="Scheduled Event",
                                           detail={}, resources=[])


@pytest.fixture
def video_of(world):
    """Makes a completed video for a user, in the stage's bucket."""
    def make(client, token) -> str:
        queue = aws.sqs().create_queue(QueueName=f"aisora-dev-test-{uuid.uuid4().hex[:8]}")["QueueUrl"]
        store = MediaStore(world.bucket)
        deps = generation.Dependencies(MessageQueue(queue), store, {"local": ScriptedProvider()}, 300, 0)
        job_id = post(client, "/videos", VIDEO, token).json_body["id"]
        generation.handle_message({"job_id": job_id, "action": "submit"}, deps)
        deps.engines["local"].status = ProviderStatus("completed", 100)
        generation.handle_message({"job_id": job_id, "action": "check"}, deps)
        return job_id
    return make


def run_export_worker(client, world):
    """Feeds every message of the exports queue to the worker, ten at a time as SQS hands them
    out: other tests' exports may wait there too, ahead of this one's."""
    queue = world.queue_urls["ExportsQueue"]
    while messages := aws.sqs().receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", []):
        event = client.events.generate_sqs_event(message_bodies=[m["Body"] for m in messages],
                                                 queue_name="aisora-dev-exports")
        client.lambda_.invoke("build_export", event)
        for m in messages:
            aws.sqs().delete_message(QueueUrl=queue, ReceiptHandle=m["ReceiptHandle"])


# --- access and portability -----------------------------------------------------------------


@pytest.mark.policy("access-portability", "usage-data", "technical-info")
def test_an_export_holds_everything_about_the_user_and_their_videos(client, user, world, video_of):
    token = user["access_token"]
    job_id = video_of(client, token)
    post(client, "/privacy/requests", {"type": "access", "message": "a copy please"}, token)
    started = post(client, "/me/export", {}, token)
    assert started.status_code == 202 and started.json_body["status"] == "queued"
    run_export_worker(client, world)

    status = get(client, f"/me/export/{started.json_body['id']}", token).json_body
    assert status["status"] == "ready"
    assert int(parse_qs(urlparse(status["url"]).query)["X-Amz-Expires"][0]) <= 7 * 24 * 3600
    archive = zipfile.ZipFile(io.BytesIO(requests.get(status["url"], timeout=10).content))
    account = json.loads(archive.read("account.json"))
    assert account["profile"]["email"] == user["email"]
    assert account["consents"]["privacy_policy"]["version"] == user["accept_policy_version"]
    (video,) = json.loads(archive.read("videos.json"))
    assert video["prompt"] == VIDEO["prompt"] and video["file"] == f"videos/{job_id}.mp4"
    assert archive.read(f"videos/{job_id}.mp4") == ScriptedProvider().open_content("x", "video").read()
    kinds = [t["kind"] for t in json.loads(archive.read("credits.json"))["transactions"]]
    assert kinds == ["debit", "signup_grant"]
    assert json.loads(archive.read("technical.json"))[0]["browser"]
    assert json.loads(archive.read("privacy_requests.json"))[0]["type"] == "access"
    assert any("export is ready" in m["subject"] for m in mail_to(user["email"]))


@pytest.mark.policy("access-control")
def test_another_users_export_is_not_found(client, user):
    export_id = post(client, "/me/export", {}, user["access_token"]).json_body["id"]
    other = post(client, "/auth/signup", signup_body()).json_body["access_token"]
    assert get(client, f"/me/export/{export_id}", other).status_code == 404


def test_an_export_is_deleted_after_seven_days(client, user, world):
    T0 = datetime.now(UTC)
    export_id = post(client, "/me/export", {}, user["access_token"]).json_body["id"]
    run_export_worker(client, world)
    with time_machine.travel(T0 + timedelta(days=7, minutes=1), tick=False):
        assert client.lambda_.invoke("purge_expired_exports", tick(client)).payload["deleted"] >= 1
    listed = aws.s3().list_objects_v2(Bucket=world.bucket, Prefix="exports/").get("Contents", [])
    assert not [o for o in listed if export_id in o["Key"]]


# --- deletion and erasure -------------------------------------------------------------------


@pytest.mark.policy("account-until-deletion")
def test_a_wrong_password_closes_nothing(client, user):
    response = delete_me(client, user["access_token"], {"password": "not my password"})
    assert response.status_code == 401
    assert get(client, "/me", user["access_token"]).status_code == 200
    assert login(client, user["email"], user["password"]).status_code == 200


def test_guessing_the_password_to_close_the_account_is_throttled(client, user):
    for _ in range(throttling.PASSWORD_CHECK.allowed):
        assert delete_me(client, user["access_token"], {"password": "not my password"}).status_code == 401
    refused = delete_me(client, user["access_token"], {"password": user["password"]})
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert get(client, "/me", user["access_token"]).status_code == 200  # still open


def test_an_export_asked_for_before_closing_is_not_built_after_it(client, world, user):
    empty_queue(world.queue_urls["ExportsQueue"])
    export_id = post(client, "/me/export", {}, user["access_token"]).json_body["id"]
    user_id = get(client, "/me", user["access_token"]).json_body["id"]
    assert delete_me(client, user["access_token"], {"password": user["password"]}).status_code == 202
    run_export_worker(client, world)  # handled without an error, so never dead-lettered
    assert DataExport.get(user_id, export_id).status == "queued"  # nothing built; erasure takes it


@pytest.mark.policy("deletion", "erasure-30-days")
def test_closing_disables_the_account_at_once_and_promises_erasure_within_a_day(client, user):
    response = delete_me(client, user["access_token"], {"password": user["password"]})
    assert response.status_code == 202
    due = datetime.fromisoformat(response.json_body["erasure_due_by"])
    assert due <= datetime.now(UTC) + timedelta(hours=24, minutes=1)
    # The access token still within its 15 minutes is refused like any ended session's.
    token = user["access_token"]
    answers = [get(client, "/me", token), get(client, "/me/credits", token),
               post(client, "/videos", VIDEO, token), post(client, "/me/export", {}, token)]
    for answer in answers:
        assert answer.status_code == 401 and answer.json_body["error"]["code"] == "invalid_token"
    assert post(client, "/auth/refresh", {"refresh_token": user["refresh_token"]}).status_code == 401
    assert login(client, user["email"], user["password"]).status_code == 401
    # The address is free again at once.
    assert post(client, "/auth/signup", signup_body(email=user["email"])).status_code == 201


def _everything_stored(bucket: str) -> list[str]:
    dynamodb = boto3.client("dynamodb")
    texts = []
    for model in ALL_MODELS:
        for page in dynamodb.get_paginator("scan").paginate(TableName=model.Meta.table_name):
            texts += [f"{model.Meta.table_name}: {json.dumps(item)}" for item in page["Items"]]
    s3 = aws.s3()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
            texts.append(f"s3: {item['Key']} {body[:4096]!r}")
    return texts


@pytest.mark.policy("deletion", "erasure-30-days", "transaction-records-7y")
def test_erasure_leaves_only_pseudonymised_ledger_rows(client, world, video_of):
    account = signup_body()
    tokens = post(client, "/auth/signup", account).json_body
    verify_email(client, account["email"])
    token = tokens["access_token"]
    user_id = get(client, "/me", token).json_body["id"]
    job_id = video_of(client, token)
    patch(client, "/me", {"preferences": {"language": "de"}}, token)
    # A reference image uploaded and checked, but never used by a video.
    from PIL import Image

    from chalicelib.services import references

    out = io.BytesIO()
    Image.new("RGB", (8, 8), (10, 20, 30)).save(out, "PNG")
    png = out.getvalue()
    store = MediaStore(world.bucket)
    upload_key = f"uploads/{user_id}/{uuid.uuid4().hex}"
    store.put_bytes(upload_key, png, "image/png")
    assert references.validate_upload(upload_key, store) == "ready"
    post(client, "/privacy/requests", {"type": "deletion", "message": "erase me"}, token)
    post(client, "/support", {"email": account["email"], "subject": "hi", "message": "bye"})
    # Sent from the address without signing in, and a report naming the account.
    post(client, "/privacy/requests", {"type": "access", "email": account["email"]})
    post(client, "/privacy/requests", {"type": "child_report", "email": new_email(),
                                       "child_email": account["email"]})
    post(client, "/me/export", {}, token)
    run_export_worker(client, world)
    post(client, "/auth/password-reset", {"email": account["email"]})
    assert any(user_id in text for text in _everything_stored(world.bucket))

    assert delete_me(client, token, {"password": account["password"]}).status_code == 202
    assert client.lambda_.invoke("erase_closed_accounts", tick(client)).payload["erased"] >= 1

    found = [t for t in _everything_stored(world.bucket) if user_id in t or account["email"] in t]
    assert found == []
    kept = [row for row in LedgerEntry.scan() if row.reference in ("signup", f"job:{job_id}:debit")
            and row.user_id.startswith("erased-") and job_id in row.reference]
    assert len(kept) == 1 and kept[0].amount == -40
    assert "has been erased" in mail_to(account["email"])[-1]["subject"]


def test_erasure_runs_again_safely(client, world):
    tokens = post(client, "/auth/signup", (account := signup_body())).json_body
    user_id = get(client, "/me", tokens["access_token"]).json_body["id"]
    delete_me(client, tokens["access_token"], {"password": account["password"]})
    from chalicelib.wiring import privacy_dependencies

    assert privacy.erase_account(user_id, privacy_dependencies()) == 1
    assert privacy.erase_account(user_id, privacy_dependencies()) == 0


# --- consent --------------------------------------------------------------------------------


@pytest.mark.policy("withdraw-consent", "object-marketing")
def test_consents_change_at_once_with_their_time(client, user):
    token = user["access_token"]
    given = patch(client, "/me/consents", {"analytics": True, "marketing": True}, token)
    assert given.status_code == 200
    withdrawn = patch(client, "/me/consents", {"marketing": False}, token).json_body
    assert withdrawn["consents"]["marketing"]["opted_in"] is False
    from chalicelib.models import EmailClaim, User

    stored = User.get(EmailClaim.get(user["email"]).user_id)
    assert stored.analytics_consent is True and stored.analytics_choice_at is not None
    assert privacy.may_send_marketing(stored) is False
    trail = get(client, "/me/activity", token).json_body["changes"]
    assert trail[0]["action"] == "consent_changed"


@pytest.mark.parametrize("body", [{}, {"marketing": "no"}, {"cookies": True}])
def test_a_bad_consent_change_is_refused(client, user, body):
    assert patch(client, "/me/consents", body, user["access_token"]).status_code == 422


# --- requests and support -------------------------------------------------------------------


@pytest.mark.policy("respond-30-days")
def test_a_privacy_request_is_due_in_30_days_and_operators_see_it_by_due_date(client, user):
    response = post(client, "/privacy/requests", {"type": "objection", "message": "no profiling"},
                    user["access_token"])
    assert response.status_code == 201
    body = response.json_body
    received, due = datetime.fromisoformat(body["received_at"]), datetime.fromisoformat(body["due_at"])
    assert due - received == timedelta(days=30)
    listed = inbox.open_requests()
    assert body["id"] in [r["id"] for r in listed]
    assert [r["due_at"] for r in listed] == sorted(r["due_at"] for r in listed)
    assert "privacy request" in mail_to(user["email"])[-1]["subject"]


@pytest.mark.policy("respond-30-days")
def test_requests_near_their_due_date_are_flagged_once(client, user):
    from chalicelib.wiring import privacy_dependencies

    body = post(client, "/privacy/requests", {"type": "other", "message": "question"},
                user["access_token"]).json_body
    later = datetime.fromisoformat(body["due_at"]) - timedelta(days=6)
    assert inbox.flag_due_requests(privacy_dependencies(), now=later) >= 1
    assert inbox.flag_due_requests(privacy_dependencies(), now=later) == 0
    assert body["id"] in mail_to(inbox.OPERATORS)[-1]["body"]


@pytest.mark.parametrize(("body", "field"), [
    ({"type": "complaint"}, "type"),
    ({"type": "access"}, "email"),
    ({"type": "child_report", "email": "parent@example.com"}, "child_email"),
    ({"type": "other", "email": "p@example.com", "message": "x" * 5001}, "message"),
])
def test_a_bad_privacy_request_names_the_field(client, body, field):
    response = post(client, "/privacy/requests", body)
    assert response.status_code == 422 and response.json_body["error"]["field"] == field


@pytest.mark.policy("parent-report")
def test_a_parents_report_leaves_the_account_working_and_tells_its_owner_not_who_reported(client):
    child = signup_body()
    signed_up = post(client, "/auth/signup", child).json_body
    parent = new_email()
    report = post(client, "/privacy/requests", {
        "type": "child_report", "email": parent, "child_email": child["email"],
        "message": "I am Jane Roe, her mother: my daughter is 11."})
    assert report.status_code == 201
    # Nothing was closed or suspended: the sessions go on and the owner can still sign in.
    assert get(client, "/me", signed_up["access_token"]).json_body["email"] == child["email"]
    assert post(client, "/auth/refresh", {"refresh_token": signed_up["refresh_token"]}).status_code == 200
    assert login(client, child["email"], child["password"]).status_code == 200
    from chalicelib.models import PrivacyRequest, User

    (account,) = [u for u in User.scan(User.email == child["email"])]
    assert account.status == "active" and account.erasure_queue is None
    stored = PrivacyRequest.get(report.json_body["id"])
    assert (stored.status, stored.subject_user_id) == ("open", account.user_id)
    # The owner is told, in words that name neither the reporter nor what they wrote.
    (told,) = [m for m in mail_to(child["email"]) if "report" in m["subject"]]
    for secret in (parent, "Jane", "Roe", "mother", "daughter"):
        assert secret not in told["subject"] + told["body"]
    # And the reporter's acknowledgement is fixed text too, with none of theirs.
    (ack,) = mail_to(parent)
    assert "Jane" not in ack["subject"] + ack["body"] and report.json_body["id"] in ack["body"]


def test_a_report_naming_no_account_is_recorded_and_mails_only_the_reporter(client):
    nobody, parent = new_email(), new_email()
    report = post(client, "/privacy/requests", {"type": "child_report", "email": parent,
                                                "child_email": nobody})
    assert report.status_code == 201  # the same answer: it says nothing of who has an account
    assert mail_to(nobody) == [] and len(mail_to(parent)) == 1


@pytest.mark.policy("support-3-business-days")
def test_support_is_acknowledged_and_due_in_three_business_days(client):
    email = new_email()
    friday = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
    with time_machine.travel(friday, tick=False):
        response = post(client, "/support", {"email": email, "subject": "Billing", "message": "Help"})
    assert response.status_code == 201
    assert response.json_body["respond_by"].startswith("2026-12-02")  # Wednesday
    assert "We received your message" in mail_to(email)[-1]["subject"]
    assert response.json_body["id"] in [i["id"] for i in inbox.open_inquiries()]


@pytest.mark.parametrize(("body", "field"), [
    ({"subject": "s", "message": "m"}, "email"),
    ({"email": "a@example.com", "message": "m"}, "subject"),
    ({"email": "a@example.com", "subject": "s", "message": ""}, "message"),
])
def test_a_bad_support_message_names_the_field(client, body, field):
    response = post(client, "/support", body)
    assert response.status_code == 422 and response.json_body["error"]["field"] == field


# --- mail to an address someone typed: limited, and in our own words only ----------------------

# Mid-hour on a weekday, so that no test's run straddles a limit's window.
STEADY = datetime(2026, 12, 2, 12, 30, tzinfo=UTC)


def support(client, email, text="Help"):
    return post(client, "/support", {"email": email, "subject": text, "message": text})


@time_machine.travel(STEADY)
def test_support_to_one_address_is_refused_past_a_handful_and_mailed_at_most_that_often(
        client, client_address):
    from chalicelib.models import SupportInquiry

    email = new_email()
    for _ in range(inbox.TO_ONE_RECIPIENT.allowed):
        client_address()  # each from another network: the recipient's own limit is what stops them
        assert support(client, email).status_code == 201
    client_address()
    refused = support(client, email)
    assert refused.status_code == 429 and refused.json_body["error"]["code"] == "too_many_attempts"
    assert 0 < int(refused.headers["Retry-After"]) <= 3600
    assert len(mail_to(email)) == inbox.TO_ONE_RECIPIENT.allowed
    assert len(list(SupportInquiry.by_email.query(email))) == inbox.TO_ONE_RECIPIENT.allowed


@time_machine.travel(STEADY)
def test_support_from_one_client_address_is_refused_past_its_limit(client):
    for _ in range(inbox.SUPPORT_PER_ADDRESS.allowed):
        assert support(client, new_email()).status_code == 201
    from chalicelib.models import SupportInquiry

    stranger = new_email()
    refused = support(client, stranger)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert mail_to(stranger) == [] and list(SupportInquiry.by_email.query(stranger)) == []


@time_machine.travel(STEADY)
def test_anonymous_privacy_requests_to_one_address_are_refused_past_a_handful(client, client_address):
    from chalicelib.models import PrivacyRequest

    email = new_email()
    for _ in range(inbox.TO_ONE_RECIPIENT.allowed):
        client_address()
        assert post(client, "/privacy/requests", {"type": "other", "email": email}).status_code == 201
    client_address()
    refused = post(client, "/privacy/requests", {"type": "other", "email": email})
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert len(mail_to(email)) == inbox.TO_ONE_RECIPIENT.allowed
    stored = [r for r in PrivacyRequest.scan(PrivacyRequest.contact_email == email)]
    assert len(stored) == inbox.TO_ONE_RECIPIENT.allowed


@time_machine.travel(STEADY)
def test_privacy_requests_from_one_client_address_are_refused_past_its_limit(client):
    for _ in range(inbox.REQUESTS_PER_ADDRESS.allowed):
        assert post(client, "/privacy/requests", {"type": "other", "email": new_email()}).status_code == 201
    stranger = new_email()
    refused = post(client, "/privacy/requests", {"type": "other", "email": stranger})
    assert refused.status_code == 429 and mail_to(stranger) == []


def test_acknowledgements_quote_nothing_the_sender_wrote(client):
    lure = "Your account is locked, sign in at evil.example.net"
    by_support, by_request = new_email(), new_email()
    assert support(client, by_support, lure).status_code == 201
    assert post(client, "/privacy/requests", {"type": "other", "email": by_request,
                                              "message": lure}).status_code == 201
    (support_ack,), (request_ack,) = mail_to(by_support), mail_to(by_request)
    assert support_ack["subject"] == "We received your message"
    assert request_ack["subject"] == "We received your privacy request"
    for ack in (support_ack, request_ack):
        assert "evil" not in ack["subject"] and "evil" not in ack["body"]
