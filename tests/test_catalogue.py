"""The catalogue of current models: what each can do, what it costs, and that no model ever
sells below what any of its engines charges."""

from __future__ import annotations

import dataclasses
from fractions import Fraction

import pytest
from conftest import get

from chalicelib.config import settings
from chalicelib.services import catalogue
from chalicelib.services.catalogue import MODELS, Rate, Route

CASES = [
    (model, size, audio, route)
    for model in MODELS.values()
    for size in model.sizes
    for audio in ((False, True) if model.audio else (False,))
    for route in model.routes
]


@pytest.mark.parametrize(("model", "size", "audio", "route"), CASES,
                         ids=lambda c: getattr(c, "id", None) or getattr(c, "provider", None) or str(c))
def test_no_model_sells_below_cost_on_any_route(model, size, audio, route):
    rate = route.usd_per_second[size]
    cost = rate.audio if audio else rate.silent
    assert cost is not None, f"{route.provider} has no price for {model.id} with sound"
    seconds = model.seconds[0]
    credits_per_second = Fraction(catalogue.video_cost(model.id, size, seconds, audio), seconds)
    # Sold at the lowest price a user pays for a credit, the margin is still left over.
    assert credits_per_second * catalogue.CREDIT_VALUE_USD * (1 - catalogue.MARGIN) >= Fraction(cost)


def test_a_credit_is_valued_at_the_lowest_price_a_user_pays_for_one():
    pro = catalogue.PLANS["pro"]
    assert Fraction(pro.price_cents, 100 * pro.monthly_credits) == catalogue.CREDIT_VALUE_USD
    for pack in catalogue.CREDIT_PACKS.values():
        assert Fraction(pack.price_cents, 100 * pack.credits) >= catalogue.CREDIT_VALUE_USD


def test_a_dearer_route_raises_the_price_so_it_too_is_covered():
    cheap = Route("fal", "a", {"1280x720": Rate(Fraction(1, 10), Fraction(2, 10))})
    dear = Route("replicate", "b", {"1280x720": Rate(Fraction(3, 10), Fraction(5, 10))})
    one = catalogue._offer("x", "X", sizes=("1280x720",), seconds=(4,), routes=(cheap,), audio=True)
    both = catalogue._offer("x", "X", sizes=("1280x720",), seconds=(4,), routes=(cheap, dear), audio=True)
    assert both.credits_per_second["1280x720"] > one.credits_per_second["1280x720"]
    dearest = dear.usd_per_second["1280x720"].silent
    assert both.credits_per_second["1280x720"] == catalogue.credits_for(dearest)


def test_current_models_replace_sora():
    assert not [m for m in MODELS if "sora" in m]
    for family in ("veo-3.1", "veo-3.1-fast", "kling-3", "seedance-1.5-pro", "wan-2.6", "hailuo-2.3"):
        assert family in MODELS
    assert [r.provider for r in MODELS["veo-3.1"].routes] == ["fal", "replicate", "openai"]
    assert {r.provider for m in MODELS.values() for r in m.routes} <= {"fal", "replicate", "openai"}
    sizes = {"1280x720", "720x1280", "1920x1080", "1080x1920", "720x720", "1080x1080"}
    assert {s for m in MODELS.values() for s in m.sizes} <= sizes


def test_sound_costs_extra_only_where_it_is_offered():
    veo = MODELS["veo-3.1"]
    assert veo.audio and all(extra > 0 for extra in veo.audio_credits_per_second.values())
    assert catalogue.video_cost("veo-3.1", "1280x720", 8, audio=True) == 8 * (
        veo.credits_per_second["1280x720"] + veo.audio_credits_per_second["1280x720"])
    assert not MODELS["hailuo-2.3"].audio and MODELS["hailuo-2.3"].audio_credits_per_second == {}


def test_the_signup_grant_makes_one_short_video_of_the_default_model():
    default = MODELS[catalogue.DEFAULT_MODEL]
    shortest = catalogue.video_cost(default.id, "720x1280", min(default.seconds))
    assert shortest == catalogue.SIGNUP_GRANT
    assert 2 * shortest > catalogue.SIGNUP_GRANT


def test_plans_serve_each_models_capabilities_and_no_engine_detail(client):
    body = get(client, "/plans").json_body
    served = {m["id"]: m for m in body["models"]}
    assert set(served) == set(MODELS)  # make run, no key: the local renderer makes every model
    for model in MODELS.values():
        entry = served[model.id]
        assert entry == {
            "id": model.id, "name": model.name, "sizes": list(model.sizes), "seconds": list(model.seconds),
            "credits_per_second": model.credits_per_second, "audio": model.audio,
            "audio_credits_per_second": model.audio_credits_per_second,
            "start_image": model.start_image, "end_image": model.end_image,
            "negative_prompt": model.negative_prompt,
        }
    text = str(body)
    assert "fal-ai" not in text and "usd" not in str(body["models"]) and "routes" not in text


def test_plans_serve_only_models_a_configured_engine_makes():
    only_fal = {m["id"] for m in catalogue.public_catalogue(frozenset({"fal"}))["models"]}
    assert only_fal == set(MODELS)
    only_replicate = {m["id"] for m in catalogue.public_catalogue(frozenset({"replicate"}))["models"]}
    assert only_replicate == {"veo-3.1", "veo-3.1-fast"}
    assert catalogue.public_catalogue(frozenset())["models"] == []


def test_plans_follow_the_configured_engines(client, monkeypatch):
    gateway = dataclasses.replace(settings(), video_engines=frozenset({"openai"}))
    monkeypatch.setattr("app.settings", lambda: gateway)
    served = {m["id"] for m in get(client, "/plans").json_body["models"]}
    assert served == {m.id for m in MODELS.values() if any(r.provider == "openai" for r in m.routes)}


def test_the_local_renderer_alone_makes_every_model():
    assert settings().video_engines == frozenset({"local"})
    assert catalogue.routes_for("kling-3", frozenset({"local"})) == (Route("local", "kling-3"),)
