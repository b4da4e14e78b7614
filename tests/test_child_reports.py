"""A child report only opens a request; an operator then suspends, reinstates, erases or
dismisses, by the API or the management command, each audited and each shown in the request's
status. Reports are limited per reporter's address and per reported address."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import stripe
import time_machine
from conftest import get, mail_to, new_email, post, signup_body

from chalicelib import admin as admin_command
from chalicelib.adapters.stripe_payments import StripePayments
from chalicelib.models import AuditEntry, PrivacyRequest, User, VideoJob
from chalicelib.services import admin, billing, inbox, privacy
from chalicelib.wiring import billing_dependencies, privacy_dependencies

VIDEO = {"prompt": "A paper boat on a rainy street", "seconds": 4, "size": "720x1280"}
# Mid-day, so that no test's run straddles a day's limit window.
STEADY = datetime(2026, 12, 2, 12, 30, tzinfo=UTC)


def account(client) -> dict[str, Any]:
    body = signup_body()
    tokens = post(client, "/auth/signup", body).json_body
    return {**body, **tokens, "id": get(client, "/me", tokens["access_token"]).json_body["id"]}


@pytest.fixture
def operator(client) -> dict[str, Any]:
    who = account(client)
    assert admin_command.main(["grant", who["email"]]) == 0
    return who


def report(client, child_email: str, token: str | None = None) -> Any:
    body = {"type": "child_report", "child_email": child_email, "message": "She is 11."}
    if token is None:
        body["email"] = new_email()
    return post(client, "/privacy/requests", body, token)


@pytest.fixture
def reported(client) -> dict[str, Any]:
    """A signed-in account, and an anonymous report naming it."""
    who = account(client)
    filed = report(client, who["email"])
    assert filed.status_code == 201
    return {**who, "request_id": filed.json_body["id"]}


def decide(client, who, reported, action) -> Any:
    return post(client, f"/admin/privacy-requests/{reported['request_id']}/{action}", {},
                who["access_token"])


def login(client, who, password: str | None = None) -> Any:
    return post(client, "/auth/login", {"email": who["email"], "password": password or who["password"]})


def audited(user_id: str) -> list[tuple[str, list[str]]]:
    return [(e.action, list(e.fields)) for e in AuditEntry.query(user_id)]


def operators_did() -> list[tuple[str, list[str]]]:
    """The operators' trail, newest first: each action with its operator's account id first."""
    return [(a["action"], a["fields"]) for a in admin.operator_actions(limit=10_000)]


def on_record(action: str, operator, reported) -> bool:
    return (action, [operator["id"], reported["request_id"], reported["id"]]) in operators_did()


def still_open() -> list[str]:
    return [r["id"] for r in inbox.open_requests()]


def test_suspending_signs_the_account_out_and_refuses_sign_in_but_erases_nothing(
        client, operator, reported):
    request_id = reported["request_id"]
    answer = decide(client, operator, reported, "suspend")
    assert answer.status_code == 200 and answer.json_body == {"id": request_id, "status": "suspended"}
    # Signed out everywhere; the token still within its minutes makes no video.
    assert post(client, "/auth/refresh", {"refresh_token": reported["refresh_token"]}).status_code == 401
    assert post(client, "/videos", VIDEO, reported["access_token"]).status_code != 202
    assert list(VideoJob.by_user.query(reported["id"])) == []
    # Its owner, and only with the right password, is told why sign-in is refused.
    refused = login(client, reported)
    assert refused.status_code == 403 and refused.json_body["error"]["code"] == "account_suspended"
    wrong = login(client, reported, "not the password at all")
    assert wrong.status_code == 401 and wrong.json_body["error"]["code"] == "invalid_credentials"
    # Nothing is queued for erasure, and the address stays the account's.
    stored = User.get(reported["id"])
    assert (stored.status, stored.erasure_queue) == ("suspended", None)
    assert post(client, "/auth/signup", signup_body(email=reported["email"])).status_code == 409
    assert "suspended" in mail_to(reported["email"])[-1]["subject"]
    # The report waits for the decision, and who did what is on record.
    assert PrivacyRequest.get(request_id).status == "suspended" and request_id in still_open()
    assert on_record("admin_suspended_reported_account", operator, reported)
    assert "account_suspended" in [action for action, _ in audited(reported["id"])]


def test_a_suspended_account_is_reinstated_as_it_was(client, operator, reported):
    assert decide(client, operator, reported, "suspend").status_code == 200
    answer = decide(client, operator, reported, "reinstate")
    assert answer.status_code == 200 and answer.json_body["status"] == "reinstated"
    signed_in = login(client, reported)
    assert signed_in.status_code == 200
    assert get(client, "/me", signed_in.json_body["access_token"]).json_body["id"] == reported["id"]
    assert "available again" in mail_to(reported["email"])[-1]["subject"]
    request_id = reported["request_id"]
    assert PrivacyRequest.get(request_id).status == "reinstated" and request_id not in still_open()
    assert on_record("admin_reinstated_reported_account", operator, reported)


@pytest.mark.policy("parent-report")
def test_erasing_closes_the_account_as_deleting_it_does(client, operator, reported):
    answer = decide(client, operator, reported, "erase")
    assert answer.status_code == 200 and answer.json_body["status"] == "erased"
    due = datetime.fromisoformat(answer.json_body["erasure_due_by"])
    assert due <= datetime.now(UTC) + timedelta(hours=24, minutes=1)
    stored = User.get(reported["id"])
    assert (stored.status, stored.erasure_queue) == ("closed", "pending")
    assert login(client, reported).status_code == 401
    assert post(client, "/auth/signup", signup_body(email=reported["email"])).status_code == 201
    request_id = reported["request_id"]
    assert PrivacyRequest.get(request_id).status == "erased" and request_id not in still_open()
    assert on_record("admin_erased_reported_account", operator, reported)


class StripeAPI(stripe.HTTPClient):
    """Stripe's API at its transport: answers a subscription, keeps each request's method and URL."""

    name = "fake-stripe"

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, str]] = []

    def request(self, method, url, headers, post_data=None, *, _usage=None):
        self.calls.append((method, url))
        answer = {"id": url.rsplit("/", 1)[-1], "object": "subscription", "status": "canceled"}
        return json.dumps(answer), 200, {"request-id": "req_fake"}


@pytest.mark.parametrize("closure", ["an operator erases it", "its owner deletes it"])
def test_every_closure_cancels_the_accounts_paid_subscription(client, operator, reported, closure):
    User(reported["id"]).update(actions=[
        User.subscription_provider.set("stripe"), User.subscription_id.set("sub_reported"),
        User.subscription_status.set("active"), User.plan.set("pro")])
    api = StripeAPI()
    paying = replace(billing_dependencies(), stripe=StripePayments("sk_test_123", http_client=api))
    deps = replace(privacy_dependencies(),
                   cancel_subscription=lambda user: billing.cancel_subscription(user, paying))
    if closure == "an operator erases it":
        admin.decide_report(operator["id"], reported["request_id"], "erase", deps)
    else:
        privacy.close_own_account(reported["id"], {"password": reported["password"]}, deps)
    assert User.get(reported["id"]).status == "closed"
    ((method, url),) = api.calls
    assert method == "delete" and url.endswith("/v1/subscriptions/sub_reported")


def test_dismissing_a_report_closes_it_and_touches_nothing(client, operator, reported):
    answer = decide(client, operator, reported, "dismiss")
    assert answer.status_code == 200 and answer.json_body["status"] == "dismissed"
    assert login(client, reported).status_code == 200
    assert User.get(reported["id"]).status == "active"
    assert reported["request_id"] not in still_open()
    assert on_record("admin_dismissed_child_report", operator, reported)
    # Decided is decided: nothing else can be done with it.
    late = decide(client, operator, reported, "suspend")
    assert late.status_code == 409 and late.json_body["error"]["code"] == "already_decided"
    assert User.get(reported["id"]).status == "active"


def test_a_child_report_is_not_closed_without_a_decision(client, operator, reported):
    assert decide(client, operator, reported, "suspend").status_code == 200
    refused = decide(client, operator, reported, "close")
    assert refused.status_code == 422 and refused.json_body["error"]["field"] == "request_id"
    assert PrivacyRequest.get(reported["request_id"]).status == "suspended"
    assert decide(client, operator, reported, "reinstate").status_code == 200


def test_only_a_child_report_is_decided_this_way(client, operator):
    who = account(client)
    filed = post(client, "/privacy/requests", {"type": "deletion"}, who["access_token"]).json_body
    refused = decide(client, operator, {"request_id": filed["id"]}, "erase")
    assert refused.status_code == 422 and refused.json_body["error"]["field"] == "request_id"
    assert User.get(who["id"]).status == "active"


@pytest.mark.parametrize("action", ["suspend", "reinstate", "erase", "dismiss"])
def test_report_decisions_are_not_there_for_anyone_but_an_operator(client, reported, action):
    stranger = account(client)
    for who in (stranger, reported):
        refused = decide(client, who, reported, action)
        assert refused.status_code == 404 and refused.json_body["error"]["code"] == "not_found"
    assert PrivacyRequest.get(reported["request_id"]).status == "open"
    assert User.get(reported["id"]).status == "active"


def test_operators_decide_from_the_management_command_too(client, operator, reported):
    request_id = reported["request_id"]
    assert admin_command.main(["suspend", request_id, "--by", operator["email"]]) == 0
    assert User.get(reported["id"]).status == "suspended"
    stranger = account(client)
    assert admin_command.main(["reinstate", request_id, "--by", stranger["email"]]) == 1
    assert User.get(reported["id"]).status == "suspended"
    assert admin_command.main(["reinstate", request_id, "--by", operator["email"]]) == 0
    assert User.get(reported["id"]).status == "active"
    mine = [action for action, fields in operators_did() if fields[:2] == [operator["id"], request_id]]
    assert mine == ["admin_reinstated_reported_account", "admin_suspended_reported_account"]


@time_machine.travel(STEADY)
def test_reports_naming_one_address_are_refused_past_their_limit(client, client_address):
    child = account(client)
    for _ in range(inbox.REPORTS_PER_SUBJECT.allowed):
        client_address()  # each from another network: the reported address's limit stops them
        assert report(client, child["email"]).status_code == 201
    client_address()
    refused = report(client, child["email"])
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert refused.json_body["error"]["code"] == "too_many_attempts"
    filed = list(PrivacyRequest.scan(PrivacyRequest.subject_email == child["email"]))
    assert len(filed) == inbox.REPORTS_PER_SUBJECT.allowed
    told = [m for m in mail_to(child["email"]) if "report" in m["subject"]]
    assert len(told) == inbox.REPORTS_PER_SUBJECT.allowed


@time_machine.travel(STEADY)
def test_reports_from_one_client_address_are_refused_past_their_limit(client):
    for _ in range(inbox.REPORTS_PER_ADDRESS.allowed):
        assert report(client, new_email()).status_code == 201
    named = new_email()
    refused = report(client, named)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert list(PrivacyRequest.scan(PrivacyRequest.subject_email == named)) == []
