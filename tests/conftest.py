"""The world, built once: environment, in-process moto, the stage's resources.

Every test gets its own users (unique emails), so tests share the tables without sharing state.
"""

from __future__ import annotations

import itertools
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

_RENDER_DIR = Path(os.environ.get("PYTEST_RENDER_DIR", "/tmp")) / f"aisora-renders-{uuid.uuid4().hex[:8]}"

# Before any project import: the models read RESOURCE_PREFIX when they are defined.
os.environ.update(
    {
        "STAGE": "dev",
        "RESOURCE_PREFIX": "aisora-dev",
        "MEDIA_BUCKET": "aisora-dev-media",
        "JWT_SECRET": "test-only-jwt-secret-0123456789abcdef",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "RECHECK_DELAY_SECONDS": "0",
        "LOCAL_RENDER_DIR": str(_RENDER_DIR),
        "JOBS_QUEUE_URL": "set-by-the-world-fixture",
        "EXPORTS_QUEUE_URL": "set-by-the-world-fixture",
        "NOTICES_QUEUE_URL": "set-by-the-world-fixture",
        "APP_BASE_URL": "http://127.0.0.1:8000",
        "LOCAL_CHECKOUT": "true",
        "MAIL_FROM": "AISora2 <no-reply@aisora2.com>",
        # Every test request comes from the one local address, and the day's budget of signup
        # credits is one count for the whole run: tests of these limits set their own.
        "SIGNUPS_PER_ADDRESS_HOUR": "1000000",
        "MAILS_PER_ADDRESS_HOUR": "1000000",
        "SIGNUP_GRANTS_PER_DAY": "1000000",
    }
)
for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN", "VIDEO_API_KEY", "VIDEO_PROVIDER",
             "FAL_KEY", "REPLICATE_API_TOKEN", "GENERATION_DEADLINE_SECONDS"):
    os.environ.pop(name, None)

from chalice.test import Client  # noqa: E402
from moto import mock_aws  # noqa: E402

from chalicelib import aws, config, wiring  # noqa: E402
from chalicelib.local.bootstrap import LocalResources, bootstrap  # noqa: E402
from chalicelib.services import policy  # noqa: E402

# Short, so that tests of redelivery wait a second, not twelve minutes.
TEST_VISIBILITY_TIMEOUT = 1


@pytest.fixture(scope="session")
def world() -> Iterator[LocalResources]:
    with mock_aws():
        aws.reset_clients()
        resources = bootstrap(visibility_timeout=TEST_VISIBILITY_TIMEOUT)
        os.environ["JOBS_QUEUE_URL"] = resources.queue_urls["JobsQueue"]
        os.environ["EXPORTS_QUEUE_URL"] = resources.queue_urls["ExportsQueue"]
        os.environ["NOTICES_QUEUE_URL"] = resources.queue_urls["NoticesQueue"]
        config.settings.cache_clear()
        wiring.reset()
        yield resources
    shutil.rmtree(_RENDER_DIR, ignore_errors=True)


@pytest.fixture
def client(world: LocalResources) -> Iterator[Client]:
    from app import app

    with Client(app, stage_name="dev") as test_client:
        yield test_client


_ADDRESSES = itertools.count(1)


@pytest.fixture(autouse=True)
def client_address(monkeypatch: pytest.MonkeyPatch) -> Callable[[], str]:
    """Each test calls from its own client address (198.18.0.0/15, kept for testing), as it has
    its own users: a limit per address counts that test's requests, not the whole run's. Call the
    fixture's value to move the test to another fresh address; it returns the address."""
    from chalice.local import LambdaEventConverter

    def move() -> str:
        n = next(_ADDRESSES)
        address = f"198.{18 + n // 65536 % 2}.{n // 256 % 256}.{n % 256}"
        monkeypatch.setattr(LambdaEventConverter, "LOCAL_SOURCE_IP", address)
        return address

    move()
    return move


def new_email() -> str:
    return f"user-{uuid.uuid4().hex[:12]}@example.com"


def signup_body(**overrides: Any) -> dict[str, Any]:
    body = {
        "email": new_email(),
        "password": "correct horse battery staple",
        "birth_date": "1990-05-17",
        "accept_policy_version": policy.in_force().version,
        "marketing_opt_in": False,
    }
    body.update(overrides)
    return body


def post(client: Client, path: str, body: Any, token: str | None = None) -> Any:
    import json

    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    raw = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return client.http.post(path, headers=headers, body=raw)


def get(client: Client, path: str, token: str | None = None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.http.get(path, headers=headers)


def sign_up(client: Client, **overrides: Any) -> dict[str, Any]:
    """A new account, its email not yet verified: its signup body and its tokens."""
    body = signup_body(**overrides)
    response = post(client, "/auth/signup", body)
    assert response.status_code == 201, response.json_body
    return {**body, **response.json_body}


def verify_email(client: Client, email: str) -> dict[str, Any]:
    """Opens the last verification link mailed to `email`, as its owner would; the profile."""
    (last, *_) = reversed([m for m in mail_to(email) if "Confirm your email" in m["subject"]])
    response = post(client, "/auth/verify-email", {"token": link_token(last)})
    assert response.status_code == 200, response.json_body
    return response.json_body


@pytest.fixture
def unverified_user(client: Client) -> dict[str, Any]:
    """A signed-up user who has not opened the verification link: no credits to spend yet."""
    return sign_up(client)


@pytest.fixture
def user(client: Client) -> dict[str, Any]:
    """A signed-up user who verified the address, so has the signup credits: its signup body
    and its tokens."""
    account = sign_up(client)
    verify_email(client, account["email"])
    return account


def mail_to(address: str) -> list[dict[str, str]]:
    """Messages the embedded SES accepted for this address, oldest first.

    moto documents its backend's `sent_messages` as the way to see what SES sent.
    """
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    sent = ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages
    return [
        {"subject": m.subject, "body": m.body}
        for m in sent
        if address in m.destinations.get("ToAddresses", [])
    ]


def link_token(message: dict[str, str]) -> str:
    import re

    match = re.search(r"token=([A-Za-z0-9_-]+)", message["body"])
    assert match, message
    return match.group(1)


def empty_queue(url: str) -> None:
    """Deletes every visible message (SQS allows a purge only once a minute)."""
    from chalicelib import aws

    sqs = aws.sqs()
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return
        for message in messages:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


# --- the compliance matrix (`make compliance`) ---------------------------------------------

_OUTCOMES: dict[str, list[tuple[str, str]]] = {}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--compliance", action="store_true",
                     help="print which privacy-policy clauses the tests show, and their outcome")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "policy(*clauses): the privacy-policy clauses a test shows")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    from policy_clauses import CLAUSES

    for item in items:
        for mark in item.iter_markers("policy"):
            unknown = set(mark.args) - set(CLAUSES)
            if unknown:
                raise pytest.UsageError(f"{item.nodeid} names unknown policy clauses {unknown}")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        for mark in item.iter_markers("policy"):
            for clause in mark.args:
                _OUTCOMES.setdefault(clause, []).append((item.nodeid, report.outcome))
    return report


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    if not config.getoption("--compliance"):
        return
    from policy_clauses import CLAUSES

    write = terminalreporter.write_line
    write("")
    write("Privacy policy compliance matrix")
    covered = 0
    for clause, words in CLAUSES.items():
        outcomes = _OUTCOMES.get(clause, [])
        if not outcomes:
            verdict = "NOT COVERED"
        elif all(o == "passed" for _, o in outcomes):
            verdict, covered = "pass", covered + 1
        else:
            verdict = "FAIL"
        write(f"  {verdict:11} {clause:24} {len(outcomes):2} test(s)  {words}")
    write(f"{covered} of {len(CLAUSES)} clauses shown by passing tests")


@pytest.fixture
def drained_jobs_queue(world: LocalResources) -> Iterator[str]:
    """The app's jobs queue, emptied after the test: a message it left (a submit of a job made
    with a test-only model, a check queued by a webhook) would reach a later test's pump."""
    url = os.environ["JOBS_QUEUE_URL"]
    yield url
    empty_queue(url)
