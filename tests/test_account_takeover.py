"""Account takeover and free-credit farming (issue 16): what a verified address buys, what a
password reset or a sign-out takes away, and what the throttles let through."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
from conftest import get, link_token, mail_to, new_email, post, sign_up, signup_body, verify_email

from app import app
from chalicelib.config import settings
from chalicelib.errors import Throttled
from chalicelib.models import EmailClaim, LedgerEntry, User
from chalicelib.services import accounts, addresses, catalogue, passwords, policy, signup_credits, throttling
from chalicelib.services.accounts import AccountDeps, parse_signup
from chalicelib.services.client_info import ClientInfo
from chalicelib.wiring import account_dependencies

NEW_PASSWORD = "violet lantern gravel orbit"
VIDEO = {"prompt": "A paper boat on a pond", "seconds": 4, "size": "720x1280"}


def patch(client, body, token):
    return client.http.request("PATCH", "/me", body=json.dumps(body), headers={
        "Content-Type": "application/json", "Authorization": f"Bearer {token}"})


def login(client, who, password=None):
    return post(client, "/auth/login", {"email": who["email"], "password": password or who["password"]})


def a_stranger() -> ClientInfo:
    return ClientInfo(ip=f"203.0.113.{uuid.uuid4().int % 250}-{uuid.uuid4().hex[:6]}")


def deps_with(**changes) -> AccountDeps:
    return replace(account_dependencies(), settings=replace(settings(), **changes))


def reset_link(client, email) -> str:
    assert post(client, "/auth/password-reset", {"email": email}).status_code == 202
    return link_token([m for m in mail_to(email) if "Reset" in m["subject"]][-1])


# --- free credits cost a verified address ----------------------------------------------------


def test_an_unverified_account_asking_for_a_video_is_refused_and_charged_nothing(client, unverified_user):
    token = unverified_user["access_token"]
    refused = post(client, "/videos", VIDEO, token)
    assert refused.status_code == 403
    assert refused.json_body["error"]["code"] == "email_unverified"
    assert "/auth/verify-email/resend" in refused.json_body["error"]["message"]
    assert get(client, "/me/credits", token).json_body == {"balance": 0, "transactions": []}
    assert get(client, "/videos", token).json_body["videos"] == []
    # the way out the message names works, and then so does the video
    assert post(client, "/auth/verify-email/resend", {}, token).status_code == 202
    verify_email(client, unverified_user["email"])
    assert post(client, "/videos", VIDEO, token).status_code == 202


def test_the_signup_credits_are_granted_once_even_when_a_second_address_is_verified(client, user):
    token = user["access_token"]
    new = new_email()
    assert patch(client, {"email": new, "password": user["password"]}, token).status_code == 200
    verify_email(client, new)
    me = get(client, "/me", token).json_body
    assert (me["email"], me["credits"], me["signup_credits_pending"]) == (new, catalogue.SIGNUP_GRANT, False)
    grants = [row for row in LedgerEntry.query(me["id"]) if row.kind == "signup_grant"]
    assert len(grants) == 1


def test_the_daily_budget_of_signup_credits_stops_a_farm_of_verified_addresses(client):
    first, second = sign_up(client), sign_up(client)
    today = throttling.used(signup_credits.budget(settings()), "all accounts")
    deps = deps_with(signup_grants_per_day=today + 1)
    for who in (first, second):
        token = link_token(mail_to(who["email"])[-1])
        addresses.verify_email(token, deps, ClientInfo())
    credited = [int(accounts.user_by_email(who["email"]).credits) for who in (first, second)]
    assert credited == [catalogue.SIGNUP_GRANT, 0]
    waiting = accounts.user_by_email(second["email"])
    assert waiting.email_verified_at is not None and waiting.signup_grant_pending
    with pytest.raises(Throttled):  # asking for a video: 429 until the next UTC day
        signup_credits.ready_to_spend(waiting, deps.settings)
    # a day with budget left grants what waited
    signup_credits.ready_to_spend(waiting, settings())
    assert int(accounts.user_by_email(second["email"]).credits) == catalogue.SIGNUP_GRANT


def test_signups_from_one_address_are_throttled_before_any_password_is_hashed(world, monkeypatch):
    hashed = []
    monkeypatch.setattr(passwords, "hash_password", lambda p: hashed.append(p) or "$argon2id$stub")
    deps, client = deps_with(signups_per_address_hour=2), a_stranger()
    forms = [parse_signup(signup_body(), date.today()) for _ in range(3)]
    accounts.signup(forms[0], deps, client)
    accounts.signup(forms[1], deps, client)
    with pytest.raises(Throttled) as refused:
        accounts.signup(forms[2], deps, client)
    assert refused.value.retry_after > 0
    assert len(hashed) == 2
    assert accounts.user_by_email(forms[2].email) is None


def test_the_signup_throttle_answers_429_with_retry_after(client, monkeypatch):
    import chalicelib.wiring as wiring

    monkeypatch.setattr(wiring, "account_dependencies", lambda: deps_with(signups_per_address_hour=0))
    monkeypatch.setattr("app.account_dependencies", lambda: deps_with(signups_per_address_hour=0))
    body = signup_body()
    refused = post(client, "/auth/signup", body)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    with pytest.raises(EmailClaim.DoesNotExist):
        EmailClaim.get(body["email"])


# --- the email changes only with the password, and the old address can undo it --------------


@pytest.mark.parametrize(("password", "status", "field"), [
    (None, 422, "password"), ("", 422, "password"), ("not the password", 401, "password"),
])
def test_changing_the_email_needs_the_current_password(client, user, password, status, field):
    token, new = user["access_token"], new_email()
    body = {"email": new} if password is None else {"email": new, "password": password}
    before = get(client, "/me", token).json_body
    refused = patch(client, body, token)
    assert refused.status_code == status and refused.json_body["error"]["field"] == field
    assert get(client, "/me", token).json_body == before
    assert mail_to(new) == []


def test_the_old_address_can_undo_an_email_change_and_sign_everyone_out(client, user):
    token, new = user["access_token"], new_email()
    patch(client, {"email": new, "password": user["password"]}, token)
    verify_email(client, new)
    notice = mail_to(user["email"])[-1]
    assert "email address was changed" in notice["subject"] and "restore-email" in notice["body"]
    restored = post(client, "/auth/restore-email", {"token": link_token(notice)})
    assert restored.status_code == 200 and restored.json_body["email"] == user["email"]
    assert get(client, "/me", token).status_code == 401
    assert post(client, "/auth/refresh", {"refresh_token": user["refresh_token"]}).status_code == 401
    # whoever changed it knew the password: it no longer signs in, and a reset link is mailed
    assert login(client, user).status_code == 401
    reset = mail_to(user["email"])[-1]
    assert "is back" in reset["subject"]
    signed_in = post(client, "/auth/password-reset/confirm",
                     {"token": link_token(reset), "password": NEW_PASSWORD})
    assert get(client, "/me", signed_in.json_body["access_token"]).json_body["email"] == user["email"]
    # the other address is free again, and the link worked once
    assert post(client, "/auth/signup", signup_body(email=new)).status_code == 201
    assert post(client, "/auth/restore-email", {"token": link_token(notice)}).status_code == 422


# --- a password reset or change ends what was issued before -----------------------------------


def test_a_reset_ends_a_pending_email_change_and_every_other_emailed_link(client, user):
    token, new = user["access_token"], new_email()
    patch(client, {"email": new, "password": user["password"]}, token)
    verify_link = link_token(mail_to(new)[-1])
    other_reset, used_reset = reset_link(client, user["email"]), reset_link(client, user["email"])
    assert post(client, "/auth/password-reset/confirm",
                {"token": used_reset, "password": NEW_PASSWORD}).status_code == 200
    assert post(client, "/auth/verify-email", {"token": verify_link}).status_code == 422
    assert post(client, "/auth/password-reset/confirm",
                {"token": other_reset, "password": NEW_PASSWORD + "!"}).status_code == 422
    assert accounts.user_by_email(user["email"]).pending_email is None


def test_a_reset_signs_in_even_while_sign_in_is_throttled(client, user):
    for _ in range(throttling.LOGIN_PAIR.allowed):
        post(client, "/auth/login", {"email": user["email"], "password": "wrong password!"})
    assert login(client, user).status_code == 429
    done = post(client, "/auth/password-reset/confirm",
                {"token": reset_link(client, user["email"]), "password": NEW_PASSWORD})
    assert done.status_code == 200 and done.json_body["status"] == "password_changed"
    assert get(client, "/me", done.json_body["access_token"]).status_code == 200


def test_a_password_change_revokes_access_tokens_issued_before_it_but_not_its_own(client, user):
    other_device = login(client, user).json_body
    change = {"current_password": user["password"], "new_password": NEW_PASSWORD}
    changed = post(client, "/me/password", change, user["access_token"])
    assert changed.status_code == 200
    for old in (user["access_token"], other_device["access_token"]):
        refused = get(client, "/me", old)
        assert refused.status_code == 401 and refused.json_body["error"]["code"] == "invalid_token"
    # issued in the same second as the change, and still good: the generation, not the clock
    assert get(client, "/me", changed.json_body["access_token"]).status_code == 200


def test_logout_ends_that_sessions_access_token_and_no_other(client, user):
    other_device = login(client, user).json_body
    assert post(client, "/auth/logout", {"refresh_token": user["refresh_token"]}).status_code == 204
    assert get(client, "/me", user["access_token"]).status_code == 401
    assert get(client, "/videos", user["access_token"]).status_code == 401
    assert get(client, "/me", other_device["access_token"]).status_code == 200


def _signed_in_routes() -> list[tuple[str, str]]:
    from chalicelib import openapi

    document = openapi.document(app, 1, 1)
    return sorted((method.upper(), path) for path, operations in document["paths"].items()
                  for method, operation in operations.items()
                  if operation.get("security") == [{"bearer": []}])


_BODIES = {
    ("POST", "/videos"): VIDEO,
    ("PATCH", "/me"): {"marketing_opt_in": True},
    ("PATCH", "/me/consents"): {"marketing": True},
    ("POST", "/me/password"): {"current_password": "x", "new_password": NEW_PASSWORD},
    ("DELETE", "/me"): {"password": "x"},
    ("POST", "/uploads"): {"content_type": "image/png", "size": 100},
    ("POST", "/billing/checkout"): {"product_id": "pack_100", "provider": "stripe"},
    ("POST", "/me/policy-acceptance"): {"version": policy.in_force().version},
}


@pytest.fixture(scope="module")
def revoked_token(world):
    from chalice.test import Client

    with Client(app, stage_name="dev") as client:
        who = sign_up(client)
        verify_email(client, who["email"])
        post(client, "/me/password", {"current_password": who["password"], "new_password": NEW_PASSWORD},
             who["access_token"])
        return who["access_token"]


@pytest.mark.parametrize(("method", "path"), _signed_in_routes())
def test_every_signed_in_route_refuses_a_token_revoked_by_a_password_change(
        client, revoked_token, method, path):
    body = _BODIES.get((method, path), {})
    response = client.http.request(method, path.replace("{", "x").replace("}", ""), body=json.dumps(body),
                                   headers={"Content-Type": "application/json",
                                            "Authorization": f"Bearer {revoked_token}"})
    assert response.status_code == 401, (method, path, response.body)


# --- throttles: mail, password checks, parallel guesses ---------------------------------------


def test_verification_mail_to_one_address_is_throttled_per_hour(client, unverified_user):
    token, email = unverified_user["access_token"], unverified_user["email"]
    answers = [post(client, "/auth/verify-email/resend", {}, token)
               for _ in range(accounts.MAIL_RECIPIENT.allowed + 1)]
    assert [a.status_code for a in answers] == [202] * accounts.MAIL_RECIPIENT.allowed + [429]
    assert int(answers[-1].headers["Retry-After"]) > 0
    assert len(mail_to(email)) == 1 + accounts.MAIL_RECIPIENT.allowed  # the signup's, and the limit's


def test_reset_requests_for_one_address_are_throttled_and_mail_at_most_the_limit(client, user):
    from chalicelib.services import credentials

    answers = [post(client, "/auth/password-reset", {"email": user["email"]})
               for _ in range(credentials.RESET_RECIPIENT.allowed + 1)]
    assert [a.status_code for a in answers] == [202] * credentials.RESET_RECIPIENT.allowed + [429]
    resets = [m for m in mail_to(user["email"]) if "Reset" in m["subject"]]
    assert len(resets) == credentials.RESET_RECIPIENT.allowed
    # the sign-in counters are untouched by resets
    assert login(client, user).status_code == 200


def test_mail_asked_for_from_one_client_address_is_throttled_across_recipients(client):
    deps, stranger = deps_with(mails_per_address_hour=2), a_stranger()
    whos = [sign_up(client) for _ in range(3)]
    for who in whos[:2]:
        addresses.resend_verification(accounts.user_by_email(who["email"]).user_id, deps, stranger)
    with pytest.raises(Throttled):
        addresses.resend_verification(accounts.user_by_email(whos[2]["email"]).user_id, deps, stranger)
    assert len(mail_to(whos[2]["email"])) == 1  # the signup's only


def test_guessing_the_password_with_a_signed_in_token_is_throttled(client, user):
    token = user["access_token"]
    wrong = {"current_password": "not it at all", "new_password": NEW_PASSWORD}
    answers = [post(client, "/me/password", wrong, token).status_code
               for _ in range(throttling.PASSWORD_CHECK.allowed + 1)]
    assert answers == [401] * throttling.PASSWORD_CHECK.allowed + [429]


def test_twenty_parallel_wrong_passwords_run_at_most_the_limits_number_of_password_checks():
    # A moto server that serves one request at a time: the count is reserved by a conditional
    # write before any hash, so the threads cannot all pass a read before any count lands.
    script = Path(__file__).with_name("concurrent_logins.py")
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300,
                         env={"PATH": os.environ["PATH"]}, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result == {"password_checks": throttling.LOGIN_PAIR.allowed,
                      "wrong": throttling.LOGIN_PAIR.allowed, "throttled": 20 - throttling.LOGIN_PAIR.allowed,
                      "other": []}


def test_the_users_table_holds_no_notes_of_sign_outs_past_their_tokens_life(client, user):
    first = login(client, user).json_body
    post(client, "/auth/logout", {"refresh_token": first["refresh_token"]})
    user_id = accounts.user_by_email(user["email"]).user_id
    stale = User.get(user_id).ended_sessions.as_dict()
    User(user_id).update(actions=[User.ended_sessions[next(iter(stale))].set(1)])  # long expired
    post(client, "/auth/logout", {"refresh_token": user["refresh_token"]})
    assert list(User.get(user_id).ended_sessions.as_dict()) == [user["refresh_token"].split(".")[0]]
