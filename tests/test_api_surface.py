"""The public surface: health, policy, plans, the OpenAPI document, and what the API imports."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import get

from chalicelib.services import catalogue, policy

ROOT = Path(__file__).resolve().parents[1]


def test_health_answers(client):
    assert get(client, "/health").json_body == {"status": "ok"}


def test_policy_states_its_version_and_promises(client):
    body = get(client, "/policy").json_body
    assert body["version"] == policy.in_force().version
    assert body["effective_date"] == "2026-11-29"  # the version naming the current processors
    assert body["minimum_age"] == 13 and body["erasure_days"] == 30
    assert "Privacy Policy" in body["text"]


def test_plans_list_each_plans_storage_period(client):
    body = get(client, "/plans").json_body
    assert {p["id"]: p["retention_days"] for p in body["plans"]} == {
        "free": 7, "basic": 30, "standard": 60, "pro": 90}
    assert all(p["monthly_credits"] >= 0 for p in body["plans"])
    assert body["credit_packs"]
    assert body["signup_credits"] == catalogue.video_cost(catalogue.DEFAULT_MODEL, "720x1280", 4)


def test_the_openapi_document_covers_every_route(client):
    from app import app

    document = get(client, "/openapi.json").json_body
    assert document["openapi"].startswith("3.")
    for path, methods in app.routes.items():
        assert set(document["paths"][path]) == {m.lower() for m in methods}, path
    assert "security" in document["paths"]["/me"]["get"]
    assert "security" not in document["paths"]["/plans"]["get"]


def test_importing_the_api_loads_neither_openai_nor_stripe_nor_the_renderer():
    probe = ("import sys, app; "
             "print(sorted(m for m in ('openai', 'stripe', 'av', 'numpy', 'PIL') if m in sys.modules))")
    env = {"RESOURCE_PREFIX": "aisora-dev", "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == "[]"
