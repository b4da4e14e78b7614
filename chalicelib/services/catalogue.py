"""What we sell and what a video costs: one catalogue, served by GET /plans and used by billing,
generation and retention alike."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from chalicelib.errors import InvalidInput


@dataclass(frozen=True)
class Plan:
    id: str
    name: str
    retention_days: int
    monthly_credits: int
    price_cents: int
    # Fair use: videos rendering at once, and videos started per UTC day.
    max_concurrent: int
    max_per_day: int
    currency: str = "usd"


@dataclass(frozen=True)
class CreditPack:
    id: str
    name: str
    credits: int
    price_cents: int
    currency: str = "usd"


@dataclass(frozen=True)
class Route:
    """One engine that makes a model: `provider` names the engine ("fal", "replicate",
    "openai" for an OpenAI-compatible gateway, "local" for the local renderer) and
    `engine_model` its own id of the model there."""

    provider: str
    engine_model: str


@dataclass(frozen=True)
class VideoModel:
    id: str
    sizes: tuple[str, ...]
    seconds: tuple[int, ...]
    # Credits per second of video, by size; larger frames cost more to make.
    credits_per_second: dict[str, int]
    # The engines that make it, in the order they are tried.
    routes: tuple[Route, ...] = ()


PLANS: dict[str, Plan] = {
    plan.id: plan
    for plan in (
        Plan("free", "Free", retention_days=7, monthly_credits=0, price_cents=0,
             max_concurrent=3, max_per_day=10),
        Plan("basic", "Basic", retention_days=30, monthly_credits=400, price_cents=999,
             max_concurrent=3, max_per_day=40),
        Plan("standard", "Standard", retention_days=60, monthly_credits=1000, price_cents=1999,
             max_concurrent=4, max_per_day=100),
        Plan("pro", "Pro", retention_days=90, monthly_credits=3000, price_cents=4999,
             max_concurrent=6, max_per_day=300),
    )
}

CREDIT_PACKS: dict[str, CreditPack] = {
    pack.id: pack
    for pack in (
        CreditPack("pack_100", "100 credits", credits=100, price_cents=499),
        CreditPack("pack_500", "500 credits", credits=500, price_cents=1999),
        CreditPack("pack_1500", "1,500 credits", credits=1500, price_cents=4999),
    )
}

_PORTRAIT, _LANDSCAPE = "720x1280", "1280x720"
_TALL, _WIDE = "1024x1792", "1792x1024"

MODELS: dict[str, VideoModel] = {
    model.id: model
    for model in (
        VideoModel(
            "sora-2",
            sizes=(_PORTRAIT, _LANDSCAPE),
            seconds=(4, 8, 12),
            credits_per_second={_PORTRAIT: 10, _LANDSCAPE: 10},
        ),
        VideoModel(
            "sora-2-pro",
            sizes=(_PORTRAIT, _LANDSCAPE, _TALL, _WIDE),
            seconds=(4, 8, 12),
            credits_per_second={_PORTRAIT: 30, _LANDSCAPE: 30, _TALL: 50, _WIDE: 50},
        ),
    )
}

DEFAULT_MODEL = "sora-2"
# A new account can make exactly one 4-second video with the default model.
SIGNUP_GRANT = MODELS[DEFAULT_MODEL].credits_per_second[_PORTRAIT] * 4


def plan(plan_id: str) -> Plan:
    try:
        return PLANS[plan_id]
    except KeyError:
        raise InvalidInput(f"unknown plan {plan_id!r}", field="plan") from None


def video_cost(model_id: str, size: str, seconds: int) -> int:
    """Credits for one video; raises InvalidInput naming the field that is not offered."""
    model = MODELS.get(model_id)
    if model is None:
        raise InvalidInput(
            f"unknown model {model_id!r}; choose one of {', '.join(MODELS)}", field="model"
        )
    if size not in model.sizes:
        raise InvalidInput(
            f"size {size!r} is not offered for {model_id}; choose one of {', '.join(model.sizes)}",
            field="size",
        )
    if seconds not in model.seconds:
        raise InvalidInput(
            f"seconds must be one of {', '.join(map(str, model.seconds))}", field="seconds"
        )
    return model.credits_per_second[size] * seconds


def routes_for(model_id: str, configured: frozenset[str]) -> tuple[Route, ...]:
    """The model's routes whose engine is configured, in order. With no engine configured but
    the local renderer (`make run` with no key), the renderer makes every model."""
    if configured == frozenset({"local"}):
        return (Route("local", model_id),)
    return tuple(route for route in MODELS[model_id].routes if route.provider in configured)


def public_catalogue() -> dict[str, object]:
    return {
        "plans": [asdict(p) for p in PLANS.values()],
        "credit_packs": [asdict(p) for p in CREDIT_PACKS.values()],
        "models": [
            {
                "id": m.id,
                "sizes": list(m.sizes),
                "seconds": list(m.seconds),
                "credits_per_second": m.credits_per_second,
            }
            for m in MODELS.values()
        ],
        "signup_credits": SIGNUP_GRANT,
    }
