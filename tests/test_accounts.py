"""Signup, login and sessions: the account rules of the privacy policy and the contract."""

from __future__ import annotations

import time
from datetime import date, timedelta

import jwt
import pytest
from conftest import get, new_email, post, signup_body, verify_email

from chalicelib.models import EmailClaim, LedgerEntry, User
from chalicelib.services import accounts, catalogue, sessions


def _users_with_email(email: str) -> list[User]:
    return [u for u in User.scan(User.email == email)]


@pytest.mark.policy("account-email")
def test_signup_creates_a_free_account_with_credits_for_one_short_video_once_verified(client):
    body = signup_body()
    response = post(client, "/auth/signup", body)
    assert response.status_code == 201
    assert {"access_token", "refresh_token", "expires_in"} <= set(response.json_body)
    me = get(client, "/me", response.json_body["access_token"]).json_body
    assert me["email"] == body["email"]
    assert me["plan"] == "free"
    one_short_video = catalogue.video_cost(catalogue.DEFAULT_MODEL, "720x1280", 4)
    assert (me["credits"], me["email_verified"]) == (0, False)
    assert (me["signup_credits_pending"], me["signup_credits"]) == (True, one_short_video)
    me = verify_email(client, body["email"])
    assert (me["credits"], me["email_verified"]) == (one_short_video, True)
    assert me["signup_credits_pending"] is False
    assert me["consents"]["privacy_policy"]["version"] == body["accept_policy_version"]


@pytest.mark.policy("password-hashing")
def test_password_is_stored_only_as_an_argon2id_hash(client):
    body = signup_body()
    post(client, "/auth/signup", body)
    (user,) = _users_with_email(body["email"])
    assert user.password_hash.startswith("$argon2id$")
    assert body["password"] not in user.password_hash
    # OWASP's floor for argon2id: 19 MiB, t=2, p=1.
    params = dict(p.split("=") for p in user.password_hash.split("$")[3].split(","))
    assert int(params["m"]) >= 19 * 1024 and int(params["t"]) >= 2 and int(params["p"]) >= 1


@pytest.mark.policy("under-13")
def test_under_13_is_refused_and_nothing_about_the_person_is_stored(client):
    today = date.today()
    twelve = today.replace(year=today.year - 12)
    body = signup_body(birth_date=twelve.isoformat())
    response = post(client, "/auth/signup", body)
    assert response.status_code == 422
    assert response.json_body["error"]["code"] == "under_minimum_age"
    assert _users_with_email(body["email"]) == []
    with pytest.raises(EmailClaim.DoesNotExist):
        EmailClaim.get(body["email"])


def test_thirteenth_birthday_is_old_enough(client):
    today = date.today()
    born = today.replace(year=today.year - 13) if not (today.month == 2 and today.day == 29) \
        else date(today.year - 13, 2, 28)
    response = post(client, "/auth/signup", signup_body(birth_date=born.isoformat()))
    assert response.status_code == 201, response.json_body


def test_age_counts_whole_years_only():
    assert accounts.age_on(date(2013, 6, 2), date(2026, 6, 1)) == 12
    assert accounts.age_on(date(2013, 6, 1), date(2026, 6, 1)) == 13


@pytest.mark.policy("under-13")
def test_the_birth_date_itself_is_not_kept(client):
    body = signup_body(birth_date="1987-03-09")
    post(client, "/auth/signup", body)
    (user,) = _users_with_email(body["email"])
    assert "1987-03-09" not in str(user.serialize())
    assert user.age_attested_at is not None


@pytest.mark.policy("account-email")
def test_an_email_has_one_account_whatever_its_case(client):
    body = signup_body()
    assert post(client, "/auth/signup", body).status_code == 201
    again = post(client, "/auth/signup", signup_body(email=body["email"].upper()))
    assert again.status_code == 409
    assert again.json_body["error"]["code"] == "email_taken"
    assert len(_users_with_email(body["email"])) == 1


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"email": None}, "email"),
        ({"password": "short"}, "password"),
        ({"password": "x" * 1025}, "password"),
        ({"birth_date": "17/05/1990"}, "birth_date"),
        ({"birth_date": (date.today() + timedelta(days=1)).isoformat()}, "birth_date"),
        ({"accept_policy_version": "2019-01-01"}, "accept_policy_version"),
        ({"accept_policy_version": None}, "accept_policy_version"),
        ({"marketing_opt_in": "yes"}, "marketing_opt_in"),
    ],
)
def test_invalid_signup_names_the_field_and_stores_nothing(client, override, field):
    body = signup_body(**override)
    response = post(client, "/auth/signup", body)
    assert response.status_code == 422
    assert response.json_body["error"]["field"] == field
    if isinstance(body["email"], str) and "@" in body["email"]:
        assert _users_with_email(body["email"]) == []


def test_malformed_json_is_400_and_a_non_object_is_422(client):
    broken = post(client, "/auth/signup", "{not json")
    assert broken.status_code == 400
    assert broken.json_body["error"]["code"] == "malformed_json"
    listed = post(client, "/auth/signup", "[1, 2]")
    assert listed.status_code == 422


@pytest.mark.policy("usage-data")
def test_signup_records_the_grant_in_the_ledger(client, user):
    me = get(client, "/me/credits", user["access_token"]).json_body
    assert me["balance"] == catalogue.SIGNUP_GRANT
    assert me["transactions"] == [
        {
            "kind": "signup_grant",
            "amount": catalogue.SIGNUP_GRANT,
            "balance_after": catalogue.SIGNUP_GRANT,
            "reference": "signup",
            "created_at": me["transactions"][0]["created_at"],
        }
    ]
    user_id = get(client, "/me", user["access_token"]).json_body["id"]
    assert LedgerEntry.count(user_id) == 1


def test_login_gives_tokens_for_the_right_password(client, user):
    response = post(client, "/auth/login", {"email": user["email"].upper(), "password": user["password"]})
    assert response.status_code == 200
    assert get(client, "/me", response.json_body["access_token"]).status_code == 200


def test_wrong_password_and_unknown_email_get_the_same_answer(client, user):
    wrong = post(client, "/auth/login", {"email": user["email"], "password": "not the password"})
    unknown = post(client, "/auth/login", {"email": new_email(), "password": "not the password"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json_body == unknown.json_body


def test_me_needs_a_valid_token(client, user):
    assert get(client, "/me").status_code == 401
    assert get(client, "/me", "garbage").status_code == 401
    claims = jwt.decode(user["access_token"], options={"verify_signature": False})
    forged = jwt.encode(claims, "another-secret-of-sufficient-length-123", algorithm="HS256")
    assert get(client, "/me", forged).status_code == 401
    from chalicelib.config import settings

    secret = settings().jwt_secret.reveal()
    expired = jwt.encode({**claims, "exp": int(time.time()) - 1}, secret, algorithm="HS256")
    assert get(client, "/me", expired).status_code == 401
    wrong_audience = jwt.encode({**claims, "aud": "someone-else"}, secret, algorithm="HS256")
    assert get(client, "/me", wrong_audience).status_code == 401
    unsigned = jwt.encode(claims, None, algorithm="none")
    assert get(client, "/me", unsigned).status_code == 401


def test_access_tokens_live_15_minutes_at_most(user):
    claims = jwt.decode(user["access_token"], options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] <= 15 * 60
    assert claims["iss"] == sessions.ISSUER and claims["aud"] == sessions.AUDIENCE


def test_refresh_rotates_and_a_reused_token_ends_the_session(client, user):
    first = user["refresh_token"]
    rotated = post(client, "/auth/refresh", {"refresh_token": first})
    assert rotated.status_code == 200
    second = rotated.json_body["refresh_token"]
    assert second != first
    # The old token comes back: someone has a copy, so the whole session ends.
    assert post(client, "/auth/refresh", {"refresh_token": first}).status_code == 401
    assert post(client, "/auth/refresh", {"refresh_token": second}).status_code == 401


def test_logout_revokes_the_refresh_token(client, user):
    assert post(client, "/auth/logout", {"refresh_token": user["refresh_token"]}).status_code == 204
    assert post(client, "/auth/refresh", {"refresh_token": user["refresh_token"]}).status_code == 401


@pytest.mark.policy("password-hashing")
def test_refresh_tokens_are_stored_only_as_hashes(user):
    from chalicelib.models import Session

    session_id, secret = user["refresh_token"].split(".")
    stored = Session.get(session_id)
    assert secret not in str(stored.serialize())
