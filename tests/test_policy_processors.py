"""The privacy policy names every video engine the service can be configured to use; `make
compliance` shows it, and adding an engine to the catalogue without naming it fails here."""

from __future__ import annotations

from datetime import date

import pytest
from conftest import post

from chalicelib.services import catalogue, policy
from chalicelib.services.catalogue import Rate, Route

SORA_POLICY = policy.VERSIONS[0]
PROCESSORS_POLICY = policy.by_version("2026-11-29")


@pytest.mark.policy("video-processors")
def test_every_engine_the_catalogue_can_route_to_is_named_by_the_policy_in_force():
    engines = catalogue.providers()
    assert engines >= {"fal", "replicate", "openai"}
    assert policy.unnamed_processors(engines) == set()
    text = policy.in_force().text
    for engine in engines:
        assert policy.PROCESSOR_NAMES[engine] in text
    assert "Sora 2 API to generate" not in text


@pytest.mark.policy("video-processors")
def test_an_engine_added_without_naming_it_in_the_policy_fails_the_check(monkeypatch):
    runway = Route("runway", "gen4.5", {"1280x720": Rate(catalogue.Decimal("0.1"))})
    extra = catalogue._offer("gen-4.5", "Gen-4.5", sizes=("1280x720",), seconds=(5,), routes=(runway,))
    monkeypatch.setitem(catalogue.MODELS, "gen-4.5", extra)
    assert policy.unnamed_processors(catalogue.providers()) == {"runway"}
    # Listed as a processor but not named in the words is not enough either.
    monkeypatch.setitem(policy.PROCESSOR_NAMES, "runway", "Runway")
    assert policy.unnamed_processors(frozenset({"runway"})) == {"runway"}


def test_the_sora_policy_named_none_of_the_new_engines():
    before = SORA_POLICY.effective_date
    assert policy.unnamed_processors(frozenset({"fal", "replicate"}), today=before) == {"fal", "replicate"}


@pytest.mark.policy("policy-changes")
def test_naming_the_new_processors_is_a_material_change_each_user_accepts_again(client, user):
    assert PROCESSORS_POLICY is not None and PROCESSORS_POLICY.material
    assert PROCESSORS_POLICY.effective_date <= date.today()
    assert policy.needs_acceptance(SORA_POLICY.version)
    assert not policy.needs_acceptance(PROCESSORS_POLICY.version)
    login = post(client, "/auth/login", {"email": user["email"], "password": user["password"]})
    assert login.json_body["policy_acceptance_required"] is False  # signed up under the new one
