"""Settings, read once from the environment.

Stage-wide names (RESOURCE_PREFIX, MEDIA_BUCKET, STAGE) come from `.chalice/config.json`.
Secrets are held by name (`chalicelib.secret_store.Secret`) and read on first use: from SSM on
Lambda, from the environment elsewhere (make run's development values). Nothing here talks to AWS.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chalicelib.secret_store import Secret


class ConfigError(RuntimeError):
    """Raised when a required setting is missing or malformed."""


def _required(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise ConfigError(f"environment variable {name} is required and is not set")
    return value


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"environment variable {name} must be an integer, got {raw!r}") from None


def _flag(name: str, default: bool) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"environment variable {name} must be true or false, got {raw!r}")


def _json_map(name: str) -> dict[str, str]:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        raise ConfigError(f"environment variable {name} must be a JSON object") from None
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ConfigError(f"environment variable {name} must map ids to strings")
    return value


def resource_name(suffix: str) -> str:
    """Name of a stage's table or queue, e.g. ``aisora-dev-jobs``.

    Read at import time by the models and by app.py's decorators, so it needs only
    RESOURCE_PREFIX, which every stage sets in .chalice/config.json.
    """
    return f"{_required('RESOURCE_PREFIX')}-{suffix}"


@dataclass(frozen=True)
class Settings:
    stage: str
    region: str
    media_bucket: str
    jobs_queue_url: str
    exports_queue_url: str
    notices_queue_url: str
    jwt_secret: Secret
    access_token_seconds: int
    refresh_token_seconds: int
    download_url_seconds: int
    upload_url_seconds: int
    video_provider: str
    video_api_base_url: str | None
    video_api_key: Secret | None
    # Our model id -> the provider's, as JSON, for a gateway that names them otherwise.
    video_model_ids: dict[str, str]
    recheck_delay_seconds: int
    local_render_dir: Path
    app_base_url: str
    mail_from: str
    # S3-compatible stores (Cloudflare R2) may lack object tags; retention never depends on them.
    storage_object_tags: bool
    # Unset keys mean the local checkout stands in for that provider (make run, tests).
    stripe_api_key: Secret | None
    creem_api_key: Secret | None
    creem_api_base: str
    # Our product id -> Creem's product id, as JSON: {"pack_100": "prod_...", ...}
    creem_products: dict[str, str]
    # The local stand-in for the providers' checkout pages: on only where it is asked for
    # (make run, tests). Off, a provider without a key is simply not offered.
    local_checkout: bool
    # Whether payment events must be live (real money) or test ones: Stripe's `livemode`, Creem's
    # `mode` "prod". PAYMENTS_LIVEMODE, by default true on the prod stage only, so that test-mode
    # events never grant in production and live ones never land on a development stack.
    payments_livemode: bool
    # Prompts are checked by the local rules and, where configured, by an OpenAI-shaped
    # `/v1/moderations` endpoint: by default the video provider's own when that is OpenAI's API.
    # Free credits cost a verified address, and at most this many accounts get them per UTC day
    # (a farm of verified addresses stops there); signups per client address per hour; mails
    # with a link (verification, reset) per client address per hour.
    signup_grants_per_day: int = 1000
    signups_per_address_hour: int = 10
    mails_per_address_hour: int = 20
    moderation_provider: str = "local"
    moderation_api_key: Secret | None = None
    moderation_api_base_url: str | None = None
    moderation_model: str = "omni-moderation-latest"
    # Hosted engines; an unset key means that engine is not offered.
    fal_key: Secret | None = None
    fal_queue_url: str = "https://queue.fal.run"
    fal_jwks_url: str = "https://rest.alpha.fal.ai/.well-known/jwks.json"
    replicate_api_token: Secret | None = None
    replicate_base_url: str = "https://api.replicate.com"
    replicate_webhook_secret: Secret | None = None
    # The engines that make videos: {"local"} for the local renderer, else those with a key
    # ("fal", "replicate", "openai" for an OpenAI-compatible gateway), tried in each model's order.
    video_engines: frozenset[str] = frozenset({"local"})
    # A job not finished by then fails and is refunded; short values make a soak take minutes.
    generation_deadline_seconds: int = 3600

    @classmethod
    def from_environ(cls) -> Settings:
        # Imported here: chalicelib.secret_store takes ConfigError from this module.
        from chalicelib import secret_store

        stage = _required("STAGE")
        secret_store.check_environment()
        local_checkout = _flag("LOCAL_CHECKOUT", False)
        if local_checkout and stage == "prod":
            raise ConfigError("LOCAL_CHECKOUT=true is refused when STAGE is prod: the local checkout "
                              "grants credits without a payment")
        api_key = secret_store.handle("VIDEO_API_KEY")
        engines = _video_engines(secret_store.configured)
        # The local renderer is the default so that a new checkout works with no key at all.
        # (Whether VIDEO_PROVIDER=openai has its key is known when the provider is built: on
        # Lambda, only the functions that call the provider are granted it.)
        provider = os.environ.get("VIDEO_PROVIDER") or ("openai" if api_key else "local")
        if provider not in ("local", "openai"):
            raise ConfigError(f"VIDEO_PROVIDER must be 'local' or 'openai', got {provider!r}")
        if provider == "local" and os.environ.get("VIDEO_PROVIDER"):
            engines = frozenset({"local"})
        # The video provider's key serves for moderation only where that provider is OpenAI's own
        # API (no other address): a gateway for videos need not answer /v1/moderations.
        openai_itself = provider == "openai" and not os.environ.get("VIDEO_API_BASE_URL")
        moderation_key = secret_store.handle("MODERATION_API_KEY") or (api_key if openai_itself else None)
        moderation = os.environ.get("MODERATION_PROVIDER") or ("openai" if moderation_key else "local")
        if moderation not in ("local", "openai"):
            raise ConfigError(f"MODERATION_PROVIDER must be 'local' or 'openai', got {moderation!r}")
        if moderation == "openai" and not moderation_key:
            raise ConfigError("MODERATION_PROVIDER=openai needs MODERATION_API_KEY (VIDEO_API_KEY serves "
                              "only for OpenAI's own API, with no VIDEO_API_BASE_URL)")
        stage = _required("STAGE")
        return cls(
            stage=stage,
            region=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
            media_bucket=_required("MEDIA_BUCKET"),
            jobs_queue_url=_required("JOBS_QUEUE_URL"),
            exports_queue_url=_required("EXPORTS_QUEUE_URL"),
            notices_queue_url=_required("NOTICES_QUEUE_URL"),
            jwt_secret=secret_store.Secret("JWT_SECRET"),
            access_token_seconds=_int("ACCESS_TOKEN_SECONDS", 900),
            refresh_token_seconds=_int("REFRESH_TOKEN_SECONDS", 30 * 24 * 3600),
            download_url_seconds=_int("DOWNLOAD_URL_SECONDS", 300),
            upload_url_seconds=_int("UPLOAD_URL_SECONDS", 600),
            video_provider=provider,
            video_api_base_url=os.environ.get("VIDEO_API_BASE_URL") or None,
            video_api_key=api_key,
            video_model_ids=_json_map("VIDEO_MODEL_IDS"),
            recheck_delay_seconds=_int("RECHECK_DELAY_SECONDS", 15),
            local_render_dir=Path(os.environ.get("LOCAL_RENDER_DIR") or ".local/renders"),
            app_base_url=_required("APP_BASE_URL").rstrip("/"),
            mail_from=_required("MAIL_FROM"),
            storage_object_tags=_flag("STORAGE_OBJECT_TAGS", True),
            stripe_api_key=secret_store.handle("STRIPE_API_KEY"),
            creem_api_key=secret_store.handle("CREEM_API_KEY"),
            creem_api_base=os.environ.get("CREEM_API_BASE") or "https://api.creem.io",
            creem_products=_json_map("CREEM_PRODUCTS"),
            local_checkout=local_checkout,
            payments_livemode=_flag("PAYMENTS_LIVEMODE", stage == "prod"),
            signup_grants_per_day=_int("SIGNUP_GRANTS_PER_DAY", 1000),
            signups_per_address_hour=_int("SIGNUPS_PER_ADDRESS_HOUR", 10),
            mails_per_address_hour=_int("MAILS_PER_ADDRESS_HOUR", 20),
            moderation_provider=moderation,
            moderation_api_key=moderation_key,
            moderation_api_base_url=os.environ.get("MODERATION_API_BASE_URL") or None,
            moderation_model=os.environ.get("MODERATION_MODEL") or "omni-moderation-latest",
            fal_key=secret_store.handle("FAL_KEY"),
            fal_queue_url=(os.environ.get("FAL_QUEUE_URL") or "https://queue.fal.run").rstrip("/"),
            fal_jwks_url=os.environ.get("FAL_JWKS_URL") or "https://rest.alpha.fal.ai/.well-known/jwks.json",
            replicate_api_token=secret_store.handle("REPLICATE_API_TOKEN"),
            replicate_base_url=(os.environ.get("REPLICATE_BASE_URL") or "https://api.replicate.com").rstrip("/"),
            replicate_webhook_secret=secret_store.handle("REPLICATE_WEBHOOK_SECRET"),
            video_engines=engines,
            generation_deadline_seconds=_int("GENERATION_DEADLINE_SECONDS", 3600),
        )


# Each engine is configured by its key; VIDEO_PROVIDER=local forces the local renderer.
_ENGINE_KEYS = {"fal": "FAL_KEY", "replicate": "REPLICATE_API_TOKEN", "openai": "VIDEO_API_KEY"}


def _video_engines(configured: Callable[[str], bool]) -> frozenset[str]:
    """VIDEO_ENGINES where a stage names them (on Lambda: the API holds no engine's key, yet
    serves the models they make), else the engines whose key this process has, else the local
    renderer."""
    named = [name.strip() for name in os.environ.get("VIDEO_ENGINES", "").split(",") if name.strip()]
    unknown = sorted(set(named) - set(_ENGINE_KEYS))
    if unknown:
        raise ConfigError(f"VIDEO_ENGINES names unknown engines {unknown}; known: {sorted(_ENGINE_KEYS)}")
    engines = frozenset(named) or frozenset(name for name, key in _ENGINE_KEYS.items() if configured(key))
    return engines or frozenset({"local"})


@functools.cache
def settings() -> Settings:
    return Settings.from_environ()


def webhook_secret(name: str) -> str:
    """A webhook signing secret (STRIPE_WEBHOOK_SECRET, ...), read when a webhook arrives."""
    from chalicelib import secret_store

    return secret_store.require(name)
