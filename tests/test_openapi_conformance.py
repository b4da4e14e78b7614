"""The API answers as its own OpenAPI document (GET /openapi.json) says, whatever it is sent.

schemathesis generates requests for every operation of the document, valid and invalid, and
checks each answer: never a 5xx, a documented status code, content type and body schema, auth
enforced where the document asks for it, invalid data refused. It drives the app in-process
through chalice's LocalGateway (tests/gateway_wsgi.py) against the moto world; signed-in
operations are called with a real user's token (an operator's for /admin), so they are tested
beyond their 401.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from chalice.test import Client
from conftest import empty_queue, post, signup_body, verify_email
from gateway_wsgi import GatewayWSGI
from hypothesis import settings

from app import app
from chalicelib import admin as admin_command

WEBHOOK_SECRETS = {
    "STRIPE_WEBHOOK_SECRET": "whsec_conformance_stripe",
    "CREEM_WEBHOOK_SECRET": "conformance_creem",
    "REPLICATE_WEBHOOK_SECRET": "whsec_Y29uZm9ybWFuY2UtcmVwbGljYXRlLXdlYmhvb2s=",
}

CONFIG = schemathesis.Config.from_dict({
    # A handful of generated requests per operation and phase, the same ones every run.
    "generation": {"max-examples": 6, "deterministic": True},
    # Schema-valid data may still break a rule no schema can state (a guessable password, an
    # empty balance, a refused prompt), and the app's 422 or 402 for it is right: the check that
    # every schema-valid request succeeds does not apply. Every other built-in check does.
    "checks": {"positive_data_acceptance": {"enabled": False}},
})
schema = schemathesis.openapi.from_wsgi("/openapi.json", GatewayWSGI(app), config=CONFIG)


@pytest.fixture(scope="module")
def tokens(world) -> Iterator[dict[str, str]]:
    """A user's and an operator's access tokens, shared by every operation's test: no generated
    request can end their sessions (that takes their passwords, which are not in the document)."""
    client = Client(app, stage_name="dev")
    user = post(client, "/auth/signup", person := signup_body()).json_body["access_token"]
    verify_email(client, person["email"])
    operator = signup_body()
    post(client, "/auth/signup", operator)
    assert admin_command.main(["grant", operator["email"]]) == 0
    login = post(client, "/auth/login", {"email": operator["email"], "password": operator["password"]})
    with pytest.MonkeyPatch.context() as patch:
        for name, value in WEBHOOK_SECRETS.items():
            patch.setenv(name, value)
        yield {"user": user, "operator": login.json_body["access_token"]}
    # The videos and exports the operations queued are nobody's work: leave the queues as found.
    for queue in ("JobsQueue", "ExportsQueue", "NoticesQueue"):
        empty_queue(world.queue_urls[queue])


def _signed_in_as(case: Any, tokens: dict[str, str]) -> dict[str, str] | None:
    """The Authorization header for an operation the document says needs one, else None."""
    if "security" not in case.operation.definition.raw:
        return None
    who = "operator" if case.path.startswith("/admin/") else "user"
    return {"Authorization": f"Bearer {tokens[who]}"}


@schema.parametrize()
@settings(deadline=None, derandomize=True, database=None)
def test_every_operation_answers_as_documented(case, tokens):
    headers = _signed_in_as(case, tokens)
    response = case.call_and_validate(headers=headers)
    # Sent with the token (some cases leave it out on purpose), the request was taken as the
    # signed-in caller's: what the operation answered, it answered beyond its 401.
    if headers is not None and response.request.headers.get("Authorization") == headers["Authorization"]:
        refusal = response.json() if response.status_code == 401 else {}
        assert refusal.get("error", {}).get("code") != "invalid_token", refusal


def test_the_document_is_valid_openapi(client):
    from openapi_spec_validator import validate  # comes with moto[server], pinned in constraints-dev.txt

    validate(client.http.get("/openapi.json").json_body)
