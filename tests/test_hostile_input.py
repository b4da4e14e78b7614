"""Hostile input: bodies too large, nested too deep, labelled as something else or not JSON at all,
and text at the edges of Unicode. Each is a clear error in the contract's shape (4xx, never a
5xx) that changes nothing, or is stored and returned exactly as it was sent."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import unicodedata
import uuid
from typing import Any

import pytest
from conftest import empty_queue, get, new_email, post, signup_body

from app import MAX_BODY_BYTES, MAX_JSON_DEPTH
from chalicelib import admin as admin_command
from chalicelib.models import EmailClaim, SupportInquiry
from chalicelib.services import generation, inbox

JSON = "application/json"
SECRETS = {
    "STRIPE_WEBHOOK_SECRET": "whsec_hostile_stripe",
    "CREEM_WEBHOOK_SECRET": "hostile_creem",
    "REPLICATE_WEBHOOK_SECRET": "whsec_" + base64.b64encode(b"hostile replicate webhook").decode(),
}


def send(client, method: str, path: str, body: bytes | str = b"", content_type: str | None = JSON,
         token: str | None = None, headers: dict[str, str] | None = None) -> Any:
    sent = dict(headers or {})
    if content_type is not None:
        sent["Content-Type"] = content_type
    if token:
        sent["Authorization"] = f"Bearer {token}"
    raw = body.encode() if isinstance(body, str) else body
    return client.http.request(method, path, headers=sent, body=raw)


def refused(response: Any, status: int) -> dict[str, Any]:
    """The contract's error: the status, JSON, a machine-readable code and words to act on."""
    assert response.status_code == status, (response.status_code, response.body[:300])
    content_type = {k.lower(): v for k, v in response.headers.items()}.get("content-type", "")
    assert content_type.startswith(JSON), content_type
    error = response.json_body["error"]
    assert isinstance(error["code"], str) and error["code"].strip(), error
    assert isinstance(error["message"], str) and len(error["message"].strip()) > 10, error
    return error


def has_account(email: str) -> bool:
    try:
        EmailClaim.get(email)
    except EmailClaim.DoesNotExist:
        return False
    return True


def inquiries_from(email: str) -> list[SupportInquiry]:
    return list(SupportInquiry.scan(SupportInquiry.email == email))


def support_body(**overrides: Any) -> dict[str, Any]:
    return {"email": new_email(), "subject": "A question", "message": "How long are videos kept?",
            **overrides}


def padded(body: dict[str, Any], size: int) -> str:
    """`body` with an extra field that makes its JSON exactly `size` bytes long."""
    bare = json.dumps({**body, "padding": ""})
    return json.dumps({**body, "padding": "x" * (size - len(bare.encode()))})


@pytest.fixture(scope="module", autouse=True)
def queues_left_as_found(world):
    """The videos and exports these tests queue are nobody's work."""
    yield
    for queue in ("JobsQueue", "ExportsQueue"):
        empty_queue(world.queue_urls[queue])


@pytest.fixture
def secrets(monkeypatch):
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def operator(client) -> str:
    body = signup_body()
    post(client, "/auth/signup", body)
    assert admin_command.main(["grant", body["email"]]) == 0
    return post(client, "/auth/login", {"email": body["email"], "password": body["password"]}
                ).json_body["access_token"]


def balance_and_videos(client, token: str) -> tuple[int, list[str]]:
    videos = [v["id"] for v in get(client, "/videos", token).json_body["videos"]]
    return get(client, "/me/credits", token).json_body["balance"], videos


# --- size ----------------------------------------------------------------------------------


def test_the_body_limit_is_documented(client):
    document = get(client, "/openapi.json").json_body
    assert f"{MAX_BODY_BYTES} bytes" in document["info"]["description"]
    signup = document["paths"]["/auth/signup"]["post"]
    assert f"{MAX_BODY_BYTES} bytes" in signup["requestBody"]["description"]


def test_a_signup_body_just_over_the_limit_is_413_and_creates_nothing(client):
    body = signup_body()
    error = refused(post(client, "/auth/signup", padded(body, MAX_BODY_BYTES + 1)), 413)
    assert error["code"] == "body_too_large"
    assert str(MAX_BODY_BYTES) in error["message"] and str(MAX_BODY_BYTES + 1) in error["message"]
    assert not has_account(body["email"])


def test_a_signup_body_at_the_limit_is_read(client):
    body = signup_body()
    assert post(client, "/auth/signup", padded(body, MAX_BODY_BYTES)).status_code == 201
    assert has_account(body["email"])


def test_an_oversized_support_message_is_413_and_not_kept(client):
    body = support_body()
    refused(post(client, "/support", padded(body, 4 * MAX_BODY_BYTES)), 413)
    assert inquiries_from(body["email"]) == []


def test_an_oversized_video_request_is_413_and_charges_nothing(client, user):
    before = balance_and_videos(client, user["access_token"])
    body = padded({"prompt": "A quiet harbour at dawn", "seconds": 4}, MAX_BODY_BYTES + 1)
    refused(post(client, "/videos", body, user["access_token"]), 413)
    assert balance_and_videos(client, user["access_token"]) == before


def test_an_oversized_webhook_is_413_before_its_signature_is_read(client, secrets):
    refused(post(client, "/webhooks/stripe", "x" * (MAX_BODY_BYTES + 1)), 413)


# --- depth ---------------------------------------------------------------------------------


def nested(levels: int) -> str:
    return "[" * levels + "]" * levels


@pytest.mark.parametrize("levels", [MAX_JSON_DEPTH, 10_000])
def test_json_nested_deeper_than_the_limit_is_a_400_and_creates_nothing(client, levels):
    body = signup_body()
    # The object is one level, so `levels` arrays inside it go one past the limit at the least.
    raw = json.dumps(body)[:-1] + f', "extra": {nested(levels)}}}'
    error = refused(post(client, "/auth/signup", raw), 400)
    assert error["code"] == "too_deep" and str(MAX_JSON_DEPTH) in error["message"]
    assert not has_account(body["email"])


def test_json_nested_to_the_limit_is_read(client):
    body = signup_body()
    raw = json.dumps(body)[:-1] + f', "extra": {nested(MAX_JSON_DEPTH - 1)}}}'
    assert post(client, "/auth/signup", raw).status_code == 201
    assert has_account(body["email"])


@pytest.mark.parametrize("raw", [nested(10_000), "{" + '"a": {' * 10_000 + "}" * 10_001])
def test_a_bare_deep_document_is_a_400(client, user, raw):
    before = get(client, "/me", user["access_token"]).json_body
    assert refused(send(client, "PATCH", "/me", raw, token=user["access_token"]), 400)["code"] == "too_deep"
    assert get(client, "/me", user["access_token"]).json_body == before


def sign_stripe(raw: bytes) -> dict[str, str]:
    stamp = int(time.time())
    mac = hmac.new(SECRETS["STRIPE_WEBHOOK_SECRET"].encode(), f"{stamp}.".encode() + raw, hashlib.sha256)
    return {"Stripe-Signature": f"t={stamp},v1={mac.hexdigest()}"}


def sign_creem(raw: bytes) -> dict[str, str]:
    mac = hmac.new(SECRETS["CREEM_WEBHOOK_SECRET"].encode(), raw, hashlib.sha256)
    return {"creem-signature": mac.hexdigest()}


# fal's and Replicate's routes verify with their adapters' own code; their hostile bodies are
# tested with those adapters.
WEBHOOKS = [("/webhooks/stripe", sign_stripe), ("/webhooks/creem", sign_creem)]


@pytest.mark.parametrize(("path", "sign"), WEBHOOKS)
def test_a_signed_but_deeply_nested_webhook_is_refused_not_a_500(client, secrets, path, sign):
    raw = ('{"id": "evt_deep", "type": "x", "data": ' + nested(10_000) + "}").encode()
    refused(send(client, "POST", path, raw, headers=sign(raw)), 400)


@pytest.mark.parametrize(("path", "sign"), WEBHOOKS)
def test_a_webhook_that_is_not_utf8_is_refused_not_a_500(client, secrets, path, sign):
    raw = b'{"id": "evt_\xff\xfe", "type": "x"}'
    refused(send(client, "POST", path, raw, headers=sign(raw)), 400)
    refused(send(client, "POST", path, raw, headers={}), 400)


# --- content types ---------------------------------------------------------------------------


WRONG_TYPES = ["text/plain", "application/x-www-form-urlencoded", None, "multipart/form-data; boundary=x",
               "application/jsonp", "application/xml"]


@pytest.mark.parametrize("content_type", WRONG_TYPES)
def test_a_signup_not_labelled_json_is_415_and_creates_nothing(client, content_type):
    body = signup_body()
    error = refused(send(client, "POST", "/auth/signup", json.dumps(body), content_type), 415)
    assert error["code"] == "unsupported_media_type" and JSON in error["message"]
    assert not has_account(body["email"])


def test_a_form_encoded_signup_is_415_and_creates_nothing(client):
    body = signup_body()
    form = "&".join(f"{key}={value}" for key, value in body.items()).replace("@", "%40")
    refused(send(client, "POST", "/auth/signup", form, "application/x-www-form-urlencoded"), 415)
    assert not has_account(body["email"])


@pytest.mark.parametrize("content_type", ["text/plain", None, "application/x-www-form-urlencoded"])
def test_signed_in_json_routes_refuse_other_types_and_change_nothing(client, user, content_type):
    token = user["access_token"]
    before_me, before_money = get(client, "/me", token).json_body, balance_and_videos(client, token)
    calls = [("PATCH", "/me", {"marketing_opt_in": True}),
             ("PATCH", "/me/consents", {"analytics": True}),
             ("POST", "/videos", {"prompt": "A kite over the dunes", "seconds": 4}),
             ("POST", "/uploads", {"content_type": "image/png", "size": 100}),
             ("DELETE", "/me", {"password": user["password"]})]
    for method, path, body in calls:
        refused(send(client, method, path, json.dumps(body), content_type, token), 415)
    assert get(client, "/me", token).json_body == before_me
    assert balance_and_videos(client, token) == before_money


@pytest.mark.parametrize("content_type", ["application/json; charset=utf-8", "Application/JSON"])
def test_json_with_a_parameter_or_in_capitals_is_read(client, content_type):
    body = signup_body()
    assert send(client, "POST", "/auth/signup", json.dumps(body), content_type).status_code == 201


def test_a_request_without_a_body_needs_no_content_type(client, user):
    response = send(client, "POST", "/me/export", b"", None, user["access_token"])
    assert response.status_code == 202


# --- malformed JSON ----------------------------------------------------------------------------


def _malformed(body: dict[str, Any]) -> dict[str, bytes]:
    text = json.dumps(body)
    return {
        "truncated": text[:-1].encode(),
        "trailing comma": (text[:-1] + ",}").encode(),
        "single quotes": text.replace('"', "'").encode(),
        "two documents": (text + text).encode(),
        "NaN": (text[:-1] + ', "extra": NaN}').encode(),
        "Infinity": (text[:-1] + ', "extra": -Infinity}').encode(),
        "a 5000-digit number": (text[:-1] + ', "extra": 1' + "0" * 5000 + "}").encode(),
        "not UTF-8": (text[:-1] + ', "extra": "\xff"}').encode("latin-1"),
        "UTF-16": text.encode("utf-16"),
        "a lone high surrogate": (text[:-1] + ', "extra": "\\ud800"}').encode(),
        "a lone low surrogate in the password": text.replace(
            body["password"], body["password"] + "\\udfff").encode(),
        "a reversed surrogate pair": (text[:-1] + ', "extra": "\\ude00\\ud83d"}').encode(),
    }


@pytest.mark.parametrize("kind", list(_malformed(signup_body())))
def test_malformed_json_is_a_400_and_creates_nothing(client, kind):
    body = signup_body()
    raw = _malformed(body)[kind]
    error = refused(send(client, "POST", "/auth/signup", raw), 400)
    assert error["code"] == "malformed_json"
    assert not has_account(body["email"])


def test_a_login_with_a_lone_surrogate_in_the_password_is_a_400(client, user):
    raw = json.dumps({"email": user["email"], "password": "x"}).replace('"x"', '"\\ud800"')
    assert refused(post(client, "/auth/login", raw), 400)["code"] == "malformed_json"


def test_an_escaped_surrogate_pair_is_one_character(client):
    body = signup_body(email=f"u{uuid.uuid4().hex[:8]}😀@example.com")
    raw = json.dumps(body)  # ensure_ascii: the emoji goes as the escaped pair \ud83d\ude00
    assert "\\ud83d\\ude00" in raw
    tokens = post(client, "/auth/signup", raw).json_body
    assert get(client, "/me", tokens["access_token"]).json_body["email"] == body["email"]


# --- Unicode at the edges ------------------------------------------------------------------------


NOT_PRINTABLE = {"NUL": "\x00", "RTL override": "\u202e", "zero-width space": "\u200b",
                 "zero-width joiner": "\u200d", "line separator": "\u2028", "BOM": "\ufeff"}


@pytest.mark.parametrize("char", list(NOT_PRINTABLE.values()), ids=list(NOT_PRINTABLE))
def test_an_email_with_an_invisible_or_control_character_is_refused_and_creates_nothing(client, char):
    email = new_email()
    local, domain = email.split("@")
    body = signup_body(email=f"{local[:4]}{char}{local[4:]}@{domain}")
    error = refused(post(client, "/auth/signup", body), 422)
    assert error["field"] == "email"
    assert not has_account(email) and not has_account(body["email"])


@pytest.mark.parametrize("local", ["😀", "👨‍👩‍👧", "🇫🇷", "ü", "\uff46\uff55\uff4c\uff4c"],
                         ids=["emoji", "zwj family", "flag", "umlaut", "fullwidth"])
def test_an_email_with_printable_unicode_is_kept_as_normalised(client, local):
    body = signup_body(email=f"{local}.{uuid.uuid4().hex[:8]}@example.com")
    response = post(client, "/auth/signup", body)
    expected = unicodedata.normalize("NFKC", body["email"]).lower()
    if response.status_code == 201:
        assert get(client, "/me", response.json_body["access_token"]).json_body["email"] == expected
    else:
        assert refused(response, 422)["field"] == "email"
        assert not has_account(expected)


def test_a_very_long_email_is_refused_and_creates_nothing(client):
    email = "a" * 64 + "@" + "b" * 250 + ".com"
    assert refused(post(client, "/auth/signup", signup_body(email=email)), 422)["field"] == "email"
    assert not has_account(email)


def test_a_password_of_emoji_and_invisible_characters_is_kept_exactly(client):
    password = "Ca\x00stle 🏰\u200d🦄 at \u202edawn\u200b, lanterns ✨"
    body = signup_body(password=password)
    assert post(client, "/auth/signup", body).status_code == 201
    login = {"email": body["email"], "password": password}
    assert post(client, "/auth/login", login).status_code == 200
    for altered in (password.replace("\u200b", ""), password.replace("\x00", ""),
                    unicodedata.normalize("NFKC", password).replace("\u202e", "")):
        refused(post(client, "/auth/login", {**login, "password": altered}), 401)


PROMPTS = {
    "NUL": "A red fox\x00 in fresh snow",
    "RTL override": "A red fox in \u202ewons hserf",
    "zero-width": "A red\u200b fox\u200d in\ufeff fresh snow",
    "emoji sequences": "A 🦊 in ❄️, 👩🏽‍🚀 watching, 🏳️‍🌈 flag",
    "combining marks": "Ze\u0301phyr over a fjord, Z\u0335\u0321a\u0336lgo",
    "right-to-left script": "ثعلب أحمر في الثلج",
    "astral only, at the limit": "🎞" * generation.MAX_PROMPT,
}


@pytest.mark.parametrize("prompt", list(PROMPTS.values()), ids=list(PROMPTS))
def test_a_prompt_at_the_edges_of_unicode_is_kept_exactly(client, user, prompt):
    token = user["access_token"]
    response = post(client, "/videos", {"prompt": prompt, "seconds": 4}, token)
    assert response.status_code == 202, response.json_body
    video = get(client, f"/videos/{response.json_body['id']}", token).json_body
    assert video["prompt"] == prompt.strip()
    listed = get(client, "/videos", token).json_body["videos"]
    assert [v["prompt"] for v in listed if v["id"] == video["id"]] == [prompt.strip()]


@pytest.mark.parametrize("prompt", ["🎞" * (generation.MAX_PROMPT + 1), "x" * 100_000, " \u3000\n\t "],
                         ids=["one over the limit", "very long", "only whitespace"])
def test_a_prompt_too_long_or_blank_is_422_and_charges_nothing(client, user, prompt):
    token = user["access_token"]
    before = balance_and_videos(client, token)
    assert refused(post(client, "/videos", {"prompt": prompt, "seconds": 4}, token), 422)["field"] == "prompt"
    assert balance_and_videos(client, token) == before


TEXTS = {
    "NUL": "Hello\x00 there",
    "RTL override": "Refund \u202egnp.exe",
    "zero-width": "pass\u200bword re\u200dset",
    "emoji": "Where is my 🎬? 👍🏿🧑‍💻",
    "newlines": "line one\r\nBcc: someone@example.com\r\n\r\nline three",
}


@pytest.mark.parametrize("text", list(TEXTS.values()), ids=list(TEXTS))
def test_a_support_message_at_the_edges_of_unicode_is_kept_exactly(client, operator, text):
    body = support_body(subject=text[:200], message=text)
    response = post(client, "/support", body)
    assert response.status_code == 201, response.json_body
    (stored,) = inquiries_from(body["email"])
    assert (stored.subject, stored.message) == (text.strip(), text.strip())
    listed = get(client, "/admin/support", operator).json_body["inquiries"]
    assert [i["subject"] for i in listed if i["id"] == response.json_body["id"]] == [text.strip()]


@pytest.mark.parametrize(("field", "size"), [("message", inbox.MAX_MESSAGE + 1), ("subject", 201)])
def test_a_support_message_over_its_length_is_422_and_not_kept(client, field, size):
    body = support_body(**{field: "🎞" * size})
    assert refused(post(client, "/support", body), 422)["field"] == field
    assert inquiries_from(body["email"]) == []


@pytest.mark.parametrize("text", ["\\ud800", "ok \\udbff then"])
def test_a_support_message_with_a_lone_surrogate_is_400_and_not_kept(client, text):
    body = support_body(message="PLACEHOLDER")
    raw = json.dumps(body).replace("PLACEHOLDER", text)
    assert refused(post(client, "/support", raw), 400)["code"] == "malformed_json"
    assert inquiries_from(body["email"]) == []
