"""Email verification, password reset and change, throttling, PATCH /me and its audit trail."""

from __future__ import annotations

import base64
import string
import uuid
from datetime import timedelta

import pytest
from argon2 import PasswordHasher
from conftest import get, link_token, mail_to, new_email, post, signup_body
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from chalicelib.errors import InvalidCredentials
from chalicelib.models import EmailClaim, OneTimeToken, User
from chalicelib.models.base import utcnow
from chalicelib.services import credentials, onetime, passwords, throttling
from chalicelib.services.client_info import ClientInfo
from chalicelib.wiring import account_dependencies

NEW_PASSWORD = "violet lantern gravel orbit"


def patch(client, body, token, headers=None):
    import json

    return client.http.request("PATCH", "/me", body=json.dumps(body), headers={
        "Content-Type": "application/json", "Authorization": f"Bearer {token}", **(headers or {})})


def login(client, email, password):
    return post(client, "/auth/login", {"email": email, "password": password})


def user_record(email: str) -> User:
    return User.get(EmailClaim.get(email).user_id)


# --- signup and verification ----------------------------------------------------------------


def test_a_weak_password_is_refused_with_a_reason(client):
    body = signup_body(password="password123")
    response = post(client, "/auth/signup", body)
    assert response.status_code == 422
    assert response.json_body["error"]["field"] == "password"
    assert "common" in response.json_body["error"]["message"].lower()
    with pytest.raises(EmailClaim.DoesNotExist):
        EmailClaim.get(body["email"])


def test_signup_mails_a_link_that_verifies_the_email_once(client, unverified_user):
    user = unverified_user
    (message,) = mail_to(user["email"])
    assert "Confirm" in message["subject"]
    token = link_token(message)
    assert get(client, "/me", user["access_token"]).json_body["email_verified"] is False
    verified = post(client, "/auth/verify-email", {"token": token})
    assert verified.status_code == 200 and verified.json_body["email_verified"] is True
    again = post(client, "/auth/verify-email", {"token": token})
    assert again.status_code == 422 and again.json_body["error"]["code"] == "link_invalid"


def test_an_expired_verification_link_does_nothing(client, unverified_user):
    user = unverified_user
    token = link_token(mail_to(user["email"])[0])
    record = OneTimeToken.get(onetime._hash(token))
    record.update(actions=[OneTimeToken.expires_at.set(utcnow() - timedelta(seconds=1))])
    assert post(client, "/auth/verify-email", {"token": token}).status_code == 422
    assert user_record(user["email"]).email_verified_at is None


# --- password reset -------------------------------------------------------------------------


def test_reset_answers_alike_for_known_and_unknown_addresses(client, user):
    known = post(client, "/auth/password-reset", {"email": user["email"]})
    unknown_email = new_email()
    unknown = post(client, "/auth/password-reset", {"email": unknown_email})
    assert known.status_code == unknown.status_code == 202
    assert known.json_body == unknown.json_body
    assert mail_to(unknown_email) == []
    assert any("Reset" in m["subject"] for m in mail_to(user["email"]))


def test_a_reset_link_lasts_30_minutes_at_most_and_works_once(client, user):
    post(client, "/auth/password-reset", {"email": user["email"]})
    token = link_token(mail_to(user["email"])[-1])
    record = OneTimeToken.get(onetime._hash(token))
    assert record.expires_at - record.created_at <= timedelta(minutes=30)
    done = post(client, "/auth/password-reset/confirm", {"token": token, "password": NEW_PASSWORD})
    assert done.status_code == 200
    again = post(client, "/auth/password-reset/confirm", {"token": token, "password": NEW_PASSWORD + "x"})
    assert again.status_code == 422


def test_a_reset_changes_the_password_ends_every_session_and_sends_a_notice(client, user):
    post(client, "/auth/password-reset", {"email": user["email"]})
    token = link_token(mail_to(user["email"])[-1])
    assert post(client, "/auth/password-reset/confirm",
                {"token": token, "password": NEW_PASSWORD}).status_code == 200
    assert post(client, "/auth/refresh", {"refresh_token": user["refresh_token"]}).status_code == 401
    assert login(client, user["email"], user["password"]).status_code == 401
    assert login(client, user["email"], NEW_PASSWORD).status_code == 200
    assert "password was changed" in mail_to(user["email"])[-1]["subject"]


def test_a_weak_new_password_keeps_the_reset_link_usable(client, user):
    post(client, "/auth/password-reset", {"email": user["email"]})
    token = link_token(mail_to(user["email"])[-1])
    weak = post(client, "/auth/password-reset/confirm", {"token": token, "password": "aaaaaaaa"})
    assert weak.status_code == 422 and weak.json_body["error"]["field"] == "password"
    assert post(client, "/auth/password-reset/confirm",
                {"token": token, "password": NEW_PASSWORD}).status_code == 200


# --- password change ------------------------------------------------------------------------


def test_changing_the_password_needs_the_current_one(client, user):
    token = user["access_token"]
    attempt = {"current_password": "not it at all", "new_password": NEW_PASSWORD}
    wrong = post(client, "/me/password", attempt, token)
    assert wrong.status_code == 401
    assert passwords.verify(user_record(user["email"]).password_hash, user["password"])


def test_changing_the_password_ends_the_other_sessions(client, user):
    other_device = login(client, user["email"], user["password"]).json_body
    changed = post(client, "/me/password",
                   {"current_password": user["password"], "new_password": NEW_PASSWORD}, user["access_token"])
    assert changed.status_code == 200
    assert post(client, "/auth/refresh", {"refresh_token": other_device["refresh_token"]}).status_code == 401
    current = changed.json_body["refresh_token"]
    assert post(client, "/auth/refresh", {"refresh_token": current}).status_code == 200
    assert "password was changed" in mail_to(user["email"])[-1]["subject"]


# --- login ----------------------------------------------------------------------------------


def test_repeated_failures_throttle_that_account_from_that_address_with_retry_after(client, user):
    for _ in range(throttling.LOGIN_PAIR.allowed):
        assert login(client, user["email"], "wrong password!").status_code == 401
    blocked = login(client, user["email"], user["password"])
    assert blocked.status_code == 429
    assert 0 < int(blocked.headers["Retry-After"]) <= throttling.LOGIN_PAIR.window_seconds
    assert blocked.json_body["error"]["code"] == "too_many_attempts"


def test_a_strangers_failures_from_elsewhere_do_not_lock_the_owner_out(client, user):
    stranger = ClientInfo(ip=f"198.51.100.{uuid.uuid4().int % 250}")
    deps = account_dependencies()
    for _ in range(throttling.LOGIN_PAIR.allowed):
        with pytest.raises(InvalidCredentials):
            credentials.login({"email": user["email"], "password": "wrong password!"}, deps, stranger)
    with pytest.raises(throttling.Throttled):
        credentials.login({"email": user["email"], "password": user["password"]}, deps, stranger)
    assert login(client, user["email"], user["password"]).status_code == 200


def test_throttling_lifts_by_itself_when_the_window_ends(world):
    subject = f"client-{uuid.uuid4()}"
    limit = throttling.LOGIN_ADDRESS
    start = 1_000_000 * limit.window_seconds
    for _ in range(limit.allowed):
        throttling.take(limit, subject, now=start)
    with pytest.raises(throttling.Throttled) as blocked:
        throttling.take(limit, subject, now=start + 10)
    assert blocked.value.retry_after == limit.window_seconds - 10
    assert throttling.used(limit, subject, now=start + 10) == limit.allowed
    throttling.take(limit, subject, now=start + limit.window_seconds)


def test_login_rehashes_a_password_hashed_with_older_parameters(client, user):
    record = user_record(user["email"])
    old = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1).hash(user["password"])
    record.update(actions=[User.password_hash.set(old)])
    assert login(client, user["email"], user["password"]).status_code == 200
    rehashed = user_record(user["email"]).password_hash
    assert rehashed != old and not passwords.needs_rehash(rehashed)


@pytest.mark.policy("password-hashing")
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_mutation_of_an_access_token_is_refused(client, user, data):
    token = user["access_token"]
    position = data.draw(st.integers(0, len(token) - 1))
    replacement = data.draw(st.sampled_from(string.ascii_letters + string.digits + "-_."))
    mutated = data.draw(st.sampled_from([
        token[:position] + replacement + token[position + 1:],
        token[:position],
        token + replacement,
        token[:position] + token[position + 1:],
    ]))

    def segments(t):
        try:
            return [base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)) for p in t.split(".")]
        except ValueError:
            return None

    # Base64 has spare bits in a segment's last character: a change there may decode to the
    # very same bytes, which is the same token, not a forgery.
    assume(segments(mutated) != segments(token))
    assert get(client, "/me", mutated).status_code == 401


# --- correcting the account -----------------------------------------------------------------


@pytest.mark.policy("preferences", "correction")
def test_preferences_are_corrected_merged_and_audited_without_values(client, user):
    token = user["access_token"]
    first = patch(client, {"preferences": {"language": "fr", "default_seconds": 8}}, token)
    assert first.status_code == 200
    second = patch(client, {"preferences": {"notifications": {"video_ready": False}}}, token)
    assert second.json_body["preferences"] == {
        "language": "fr", "default_seconds": 8, "notifications": {"video_ready": False}}
    trail = get(client, "/me/activity", token).json_body["changes"]
    assert trail[0]["action"] == "profile_updated" and trail[0]["fields"] == ["preferences"]
    assert "fr" not in str(trail)


@pytest.mark.parametrize(("body", "field"), [
    ({"preferences": {"language": "xx"}}, "preferences.language"),
    ({"preferences": {"theme": "dark"}}, "preferences.theme"),
    ({"preferences": {"default_seconds": 7}}, "preferences.default_seconds"),
    ({"preferences": {"notifications": {"video_ready": "no"}}}, "preferences.notifications"),
    ({"preferences": "fr"}, "preferences"),
    ({"plan": "pro"}, "plan"),
    ({"credits": 10_000}, "credits"),
    ({"marketing_opt_in": "yes"}, "marketing_opt_in"),
    ({"email": "not an email"}, "email"),
])
def test_an_invalid_correction_names_the_field_and_changes_nothing(client, user, body, field):
    token = user["access_token"]
    before = get(client, "/me", token).json_body
    response = patch(client, body, token)
    assert response.status_code == 422
    assert response.json_body["error"]["field"] == field
    assert get(client, "/me", token).json_body == before


@pytest.mark.policy("object-marketing")
def test_the_marketing_choice_is_recorded_with_its_time(client, user):
    token = user["access_token"]
    before = get(client, "/me", token).json_body["consents"]["marketing"]
    after = patch(client, {"marketing_opt_in": True}, token).json_body["consents"]["marketing"]
    assert after["opted_in"] is True and after["changed_at"] > before["changed_at"]


@pytest.mark.policy("correction")
def test_a_new_email_is_used_only_once_verified_and_the_old_one_is_told(client, user):
    token = user["access_token"]
    new = new_email()
    pending = patch(client, {"email": new.upper(), "password": user["password"]}, token).json_body
    assert pending["email"] == user["email"] and pending["pending_email"] == new
    link = link_token(mail_to(new)[-1])
    assert post(client, "/auth/verify-email", {"token": link}).json_body["email"] == new
    assert login(client, new, user["password"]).status_code == 200
    assert login(client, user["email"], user["password"]).status_code == 401
    assert "email address was changed" in mail_to(user["email"])[-1]["subject"]
    # The old address is free again.
    assert post(client, "/auth/signup", signup_body(email=user["email"])).status_code == 201


def test_an_email_taken_meanwhile_is_refused_at_verification(client, user):
    new = new_email()
    patch(client, {"email": new, "password": user["password"]}, user["access_token"])
    assert post(client, "/auth/signup", signup_body(email=new)).status_code == 201
    link = link_token(next(m for m in mail_to(new) if "token=" in m["body"]))
    assert post(client, "/auth/verify-email", {"token": link}).status_code == 409
    assert get(client, "/me", user["access_token"]).json_body["email"] == user["email"]


@pytest.mark.policy("technical-info")
def test_each_session_keeps_the_technical_data_the_policy_lists(client):
    headers = {"User-Agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
                             "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1",
               "CloudFront-Viewer-Country": "PT", "Content-Type": "application/json"}
    import json

    response = client.http.post("/auth/signup", headers=headers, body=json.dumps(signup_body()))
    (session,) = get(client, "/me/activity", response.json_body["access_token"]).json_body["sessions"]
    assert (session["browser"], session["os"], session["device"], session["country"]) == \
        ("Safari", "iOS", "mobile", "PT")


def test_lookalike_spellings_of_an_email_are_one_account(client, user):
    name, domain = user["email"].split("@")
    fullwidth = "".join(chr(ord(c) + 0xFEE0) if c.isalnum() else c for c in name) + "@" + domain
    response = post(client, "/auth/signup", signup_body(email=fullwidth))
    assert response.status_code == 409
    assert login(client, fullwidth, user["password"]).status_code == 200


@pytest.mark.parametrize("email", [
    "a" * 250 + "@example.com", "two@@example.com", "space in@example.com", "nul\x00@example.com",
    "rtl\u202e@example.com", 12345, ["a@example.com"],
])
def test_odd_or_oversized_emails_are_refused(client, email):
    response = post(client, "/auth/signup", signup_body(email=email))
    assert response.status_code == 422
    assert response.json_body["error"]["field"] == "email"


def test_an_oversized_password_at_login_is_just_wrong(client, user):
    assert login(client, user["email"], "x" * 100_000).status_code == 401
