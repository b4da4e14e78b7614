"""What we sell and what a video costs: one catalogue, served by GET /plans and used by billing,
generation and retention alike."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from fractions import Fraction
from math import ceil

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
class Rate:
    """An engine's published price in USD per second of video: silent, and with sound (None
    where that engine makes no sound for the model)."""

    silent: Decimal
    audio: Decimal | None = None


@dataclass(frozen=True)
class Route:
    """One engine that makes a model: `provider` names the engine ("fal", "replicate",
    "openai" for an OpenAI-compatible gateway, "local" for the local renderer), `engine_model`
    its own id of the model there, and `usd_per_second` its published price by size. The price
    takes no part in equality or hashing: a route is the engine and its id of the model."""

    provider: str
    engine_model: str
    usd_per_second: Mapping[str, Rate] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class VideoModel:
    id: str
    sizes: tuple[str, ...]
    seconds: tuple[int, ...]
    # Credits per second of video, by size; larger frames cost more to make.
    credits_per_second: dict[str, int]
    # The engines that make it, in the order they are tried.
    routes: tuple[Route, ...] = ()
    name: str = ""
    audio: bool = False  # sound can be switched on
    # Credits per second added with sound on, by size (0 where sound costs the engines nothing more).
    audio_credits_per_second: dict[str, int] = field(default_factory=dict)
    start_image: bool = False
    end_image: bool = False
    negative_prompt: bool = False


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

# --- what a video costs -----------------------------------------------------------------------
# A credit is worth what a user pays for it at the lowest: the biggest pack or plan. Every price is
# set so that, bought at that price, a video leaves MARGIN of it after the dearest engine's cost.
CREDIT_VALUE_USD = min(
    [Fraction(p.price_cents, 100 * p.monthly_credits) for p in PLANS.values() if p.monthly_credits]
    + [Fraction(p.price_cents, 100 * p.credits) for p in CREDIT_PACKS.values()]
)
MARGIN = Fraction(35, 100)


def credits_for(usd: Decimal) -> int:
    """The fewest whole credits that, at the lowest credit price, cover `usd` and the margin."""
    return ceil(Fraction(usd) / (CREDIT_VALUE_USD * (1 - MARGIN)))


def _offer(model_id: str, name: str, *, sizes: tuple[str, ...], seconds: tuple[int, ...],
           routes: tuple[Route, ...], audio: bool = False, start_image: bool = False,
           end_image: bool = False, negative_prompt: bool = False) -> VideoModel:
    """A model priced from its dearest route at each size, so no route ever sells below cost."""
    silent = {size: credits_for(max(r.usd_per_second[size].silent for r in routes)) for size in sizes}
    with_audio = {size: credits_for(max(_audio(r, size) for r in routes)) - silent[size]
                  for size in sizes} if audio else {}
    return VideoModel(model_id, sizes, seconds, silent, routes, name, audio, with_audio,
                      start_image, end_image, negative_prompt)


def _audio(route: Route, size: str) -> Decimal:
    price = route.usd_per_second[size].audio
    if price is None:
        raise ValueError(f"{route.engine_model} on {route.provider} has no price with sound at {size}")
    return price


def _usd(silent: str, audio: str | None = None) -> Rate:
    return Rate(Decimal(silent), Decimal(audio) if audio else None)


def _flat(rate: Rate, *sizes: str) -> dict[str, Rate]:
    return dict.fromkeys(sizes, rate)


def _by_tokens(*sizes: str) -> dict[str, Rate]:
    """Seedance on fal is billed by video tokens, width x height x 24 fps / 1024 a second, at
    $1.2 (silent) or $2.4 (with sound) per million: about $0.26 for 5 s at 720p with sound."""
    rates = {}
    for size in sizes:
        width, height = (int(side) for side in size.split("x"))
        millions = Decimal(width * height * 24) / 1024 / 1_000_000
        rates[size] = Rate(millions * Decimal("1.2"), millions * Decimal("2.4"))
    return rates


_720 = ("1280x720", "720x1280")
_1080 = ("1920x1080", "1080x1920")

MODELS: dict[str, VideoModel] = {
    model.id: model
    for model in (
        _offer(
            "veo-3.1-fast", "Veo 3.1 Fast", sizes=(*_720, *_1080), seconds=(4, 6, 8),
            audio=True, start_image=True, end_image=True, negative_prompt=True,
            routes=(
                # fal: $0.10 silent / $0.15 with sound, Veo 3 Fast (fal.ai/models/fal-ai/veo3/fast/llms.txt);
                # runflow.io's mirror of fal's veo3.1/fast page gives the same $0.15 with sound.
                Route("fal", "fal-ai/veo3.1/fast", _flat(_usd("0.10", "0.15"), *_720, *_1080)),
                # Replicate: $0.10 / $0.15 (pollinations PR #14521, providers.md §3).
                Route("replicate", "google/veo-3.1-fast",
                      _flat(_usd("0.10", "0.15"), *_720, *_1080)),
                # A gateway passes Google's list price on: $0.10 / $0.15 (docs.dev.xavier.icvr.xyz, Vertex).
                Route("openai", "google/veo-3.1-fast-generate-001",
                      _flat(_usd("0.10", "0.15"), *_720, *_1080)),
            ),
        ),
        _offer(
            "veo-3.1", "Veo 3.1", sizes=(*_720, *_1080), seconds=(4, 6, 8),
            audio=True, start_image=True, end_image=True, negative_prompt=True,
            routes=(
                # $0.20 silent / $0.40 with sound at 720p and 1080p (fal.ai/models/fal-ai/veo3.1/llms.txt).
                Route("fal", "fal-ai/veo3.1", _flat(_usd("0.20", "0.40"), *_720, *_1080)),
                # Replicate resells Google's list price, $0.20 / $0.40 (not confirmed on replicate.com).
                Route("replicate", "google/veo-3.1", _flat(_usd("0.20", "0.40"), *_720, *_1080)),
                # Merge Gateway's model string (providers.md §5); Google's list price.
                Route("openai", "google/veo-3.1-generate-001",
                      _flat(_usd("0.20", "0.40"), *_720, *_1080)),
            ),
        ),
        _offer(
            "kling-3", "Kling 3", sizes=(*_720, "720x720"), seconds=(5, 10, 15),
            audio=True, start_image=True, end_image=True, negative_prompt=True,
            routes=(
                # Standard (720p): $0.084 silent / $0.126 with sound (fal, via hermes-agent PR #92720).
                Route("fal", "fal-ai/kling-video/v3/standard/text-to-video",
                      _flat(_usd("0.084", "0.126"), *_720, "720x720")),
            ),
        ),
        _offer(
            "kling-3-pro", "Kling 3 Pro", sizes=(*_1080, "1080x1080"), seconds=(5, 10, 15),
            audio=True, start_image=True, end_image=True, negative_prompt=True,
            routes=(
                # Pro (1080p): $0.112 / $0.168 (fal.ai/learn/tools/kling-v3-pro-vs-hailuo-2-3-pro).
                Route("fal", "fal-ai/kling-video/v3/pro/text-to-video",
                      _flat(_usd("0.112", "0.168"), *_1080, "1080x1080")),
            ),
        ),
        _offer(
            "seedance-1.5-pro", "Seedance 1.5 Pro", sizes=(*_720, "720x720", *_1080), seconds=(4, 8, 12),
            audio=True, start_image=True, end_image=True,
            routes=(
                # fal.ai/models/fal-ai/bytedance/seedance/v1.5/pro/text-to-video/llms.txt
                Route("fal", "fal-ai/bytedance/seedance/v1.5/pro/text-to-video",
                      _by_tokens(*_720, "720x720", *_1080)),
            ),
        ),
        _offer(
            "wan-2.6", "Wan 2.6", sizes=(*_720, *_1080), seconds=(5, 10, 15),
            start_image=True, negative_prompt=True,
            routes=(
                # fal's own page is not in our sources: its 5 s 1080p default is quoted at $0.90
                # (muapi.ai/comparison/wan2.6-text-to-video), $0.18 a second, above Wan 2.5's
                # $0.10 (720p) / $0.15 (1080p); the higher figure is taken for every size.
                Route("fal", "wan/v2.6/text-to-video", _flat(_usd("0.18"), *_720, *_1080)),
            ),
        ),
        _offer(
            "hailuo-2.3", "Hailuo 2.3", sizes=("1280x720",), seconds=(6, 10),
            start_image=True,
            routes=(
                # 768p, priced by the video: $0.28 for 6 s, $0.56 for 10 s; the dearer second is
                # taken (crepal.ai, quoting fal's pricing page, March 2026).
                Route("fal", "fal-ai/minimax/hailuo-2.3/standard/text-to-video",
                      _flat(_usd("0.056"), "1280x720")),
            ),
        ),
    )
}

DEFAULT_MODEL = "veo-3.1-fast"
# A new account can make exactly one short video: 4 silent seconds of the default model.
SIGNUP_GRANT = MODELS[DEFAULT_MODEL].credits_per_second["720x1280"] * 4


def plan(plan_id: str) -> Plan:
    try:
        return PLANS[plan_id]
    except KeyError:
        raise InvalidInput(f"unknown plan {plan_id!r}", field="plan") from None


def video_model(model_id: str) -> VideoModel:
    model = MODELS.get(model_id)
    if model is None:
        raise InvalidInput(
            f"unknown model {model_id!r}; choose one of {', '.join(MODELS)}", field="model"
        )
    return model


def video_cost(model_id: str, size: str, seconds: int, audio: bool = False) -> int:
    """Credits for one video; raises InvalidInput naming the field that is not offered."""
    model = video_model(model_id)
    if size not in model.sizes:
        raise InvalidInput(
            f"size {size!r} is not offered for {model_id}; choose one of {', '.join(model.sizes)}",
            field="size",
        )
    if seconds not in model.seconds:
        raise InvalidInput(
            f"seconds must be one of {', '.join(map(str, model.seconds))}", field="seconds"
        )
    if audio and not model.audio:
        raise InvalidInput(f"{model.name} makes silent videos only; leave audio off", field="audio")
    per_second = model.credits_per_second[size] + (model.audio_credits_per_second[size] if audio else 0)
    return per_second * seconds


def providers() -> frozenset[str]:
    """Every engine a model can be routed to: each one the privacy policy must name."""
    return frozenset(route.provider for model in MODELS.values() for route in model.routes)


def routes_for(model_id: str, configured: frozenset[str]) -> tuple[Route, ...]:
    """The model's routes whose engine is configured, in order. With no engine configured but
    the local renderer (`make run` with no key), the renderer makes every model."""
    if configured == frozenset({"local"}):
        return (Route("local", model_id),)
    return tuple(route for route in MODELS[model_id].routes if route.provider in configured)


def public_catalogue(configured: frozenset[str] | None = None) -> dict[str, object]:
    """What GET /plans serves: with `configured`, only the models one of those engines makes.
    Engine costs and routes stay private."""
    offered = [m for m in MODELS.values() if configured is None or routes_for(m.id, configured)]
    return {
        "plans": [asdict(p) for p in PLANS.values()],
        "credit_packs": [asdict(p) for p in CREDIT_PACKS.values()],
        "models": [
            {
                "id": m.id,
                "name": m.name,
                "sizes": list(m.sizes),
                "seconds": list(m.seconds),
                "credits_per_second": m.credits_per_second,
                "audio": m.audio,
                "audio_credits_per_second": m.audio_credits_per_second,
                "start_image": m.start_image,
                "end_image": m.end_image,
                "negative_prompt": m.negative_prompt,
            }
            for m in offered
        ],
        "default_model": DEFAULT_MODEL,
        "signup_credits": SIGNUP_GRANT,
    }
