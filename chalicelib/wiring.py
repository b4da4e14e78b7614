"""Builds the services' dependencies from Settings, once per process, at the edge.

Tests build their own `Dependencies` (a fake provider, say) instead of patching.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping

from chalicelib.adapters.mail import Mailer
from chalicelib.adapters.queue import MessageQueue
from chalicelib.adapters.storage import MediaStore
from chalicelib.adapters.video import VideoProvider, WebhookEvent
from chalicelib.config import ConfigError, Settings, settings
from chalicelib.services import billing
from chalicelib.services.accounts import AccountDeps
from chalicelib.services.billing import BillingDeps
from chalicelib.services.generation import Dependencies
from chalicelib.services.moderation import Moderator
from chalicelib.services.policy_notices import NoticeDeps
from chalicelib.services.privacy import PrivacyDeps


# Each engine's adapter is imported when the engine is first used, never at import time: the API
# function submits nothing and imports none, a worker only those its jobs' routes use (the openai
# SDK alone costs more to import than the whole API besides).
def _local(config: Settings) -> VideoProvider:
    from chalicelib.adapters.local_video import LocalRenderer

    return LocalRenderer(config.local_render_dir)


def _openai(config: Settings) -> VideoProvider:
    if config.video_api_key is None:
        raise ConfigError("an OpenAI-compatible gateway needs VIDEO_API_KEY")
    from chalicelib.adapters.openai_video import OpenAIVideos

    return OpenAIVideos.from_settings(config)


def _fal(config: Settings) -> VideoProvider:
    from chalicelib.adapters.fal import FalQueue

    return FalQueue.from_settings(config)


def _replicate(config: Settings) -> VideoProvider:
    from chalicelib.adapters.replicate import ReplicatePredictions

    return ReplicatePredictions.from_settings(config)


ENGINE_BUILDERS: dict[str, Callable[[Settings], VideoProvider]] = {
    "local": _local, "openai": _openai, "fal": _fal, "replicate": _replicate,
}


class Engines(Mapping[str, VideoProvider]):
    """The configured engines by name (`Settings.video_engines`), each built at its first use.
    Its keys are known without building any, so routing reads them for free."""

    def __init__(self, config: Settings) -> None:
        self._config = config
        self._built: dict[str, VideoProvider] = {}

    def __getitem__(self, name: str) -> VideoProvider:
        if name not in self._config.video_engines:
            raise KeyError(name)
        if name not in self._built:
            self._built[name] = ENGINE_BUILDERS[name](self._config)
        return self._built[name]

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._config.video_engines))

    def __len__(self) -> int:
        return len(self._config.video_engines)


# An engine's webhook verifier: the raw body, headers and the webhook address's query string in,
# the verified event out, or WebhookInvalid. Looked up by the route's engine, and its adapter
# imported only when a webhook arrives.
WebhookVerifier = Callable[[bytes, Mapping[str, str], Mapping[str, str], Settings], WebhookEvent]


def _verify_fal(raw: bytes, headers: Mapping[str, str], query: Mapping[str, str],
                config: Settings) -> WebhookEvent:
    from chalicelib.adapters.fal_webhook import verify_webhook

    # fal signs the request id alone; our id of the job adds its app, named in the query.
    return verify_webhook(raw, headers, config, query=query)


def _verify_replicate(raw: bytes, headers: Mapping[str, str], query: Mapping[str, str],
                      config: Settings) -> WebhookEvent:
    from chalicelib.adapters.replicate import verify_webhook

    return verify_webhook(raw, headers, config)


WEBHOOK_VERIFIERS: dict[str, WebhookVerifier] = {"fal": _verify_fal, "replicate": _verify_replicate}


def moderator(config: Settings) -> Moderator | None:
    if config.moderation_provider == "local":
        return None
    from chalicelib.adapters.openai_moderation import OpenAIModeration

    return OpenAIModeration.from_settings(config)


@functools.cache
def media_store() -> MediaStore:
    """The bucket alone: for the sweeps, which need neither the video provider nor its key."""
    config = settings()
    return MediaStore(config.media_bucket, object_tags=config.storage_object_tags)


@functools.cache
def generation_dependencies() -> Dependencies:
    config = settings()
    return Dependencies(
        queue=MessageQueue(config.jobs_queue_url),
        store=media_store(),
        engines=Engines(config),
        download_url_seconds=config.download_url_seconds,
        recheck_delay_seconds=config.recheck_delay_seconds,
        moderator=moderator(config),
        generation_deadline_seconds=config.generation_deadline_seconds,
    )


@functools.cache
def account_dependencies() -> AccountDeps:
    config = settings()
    return AccountDeps(settings=config, mailer=Mailer(config.mail_from))


@functools.cache
def privacy_dependencies() -> PrivacyDeps:
    config = settings()
    return PrivacyDeps(
        mailer=Mailer(config.mail_from),
        store=media_store(),
        exports=MessageQueue(config.exports_queue_url),
        download_url_seconds=config.download_url_seconds,
        app_base_url=config.app_base_url,
        cancel_subscription=lambda user: billing.cancel_subscription(user, billing_dependencies()),
    )


@functools.cache
def billing_dependencies() -> BillingDeps:
    config = settings()
    stripe_payments = creem_payments = None
    if config.stripe_api_key:
        # Imported here: the stripe SDK costs more to import than the rest of the API.
        from chalicelib.adapters.stripe_payments import StripePayments

        stripe_payments = StripePayments(config.stripe_api_key.reveal())
    if config.creem_api_key:
        from chalicelib.adapters.creem import CreemPayments

        creem_payments = CreemPayments(config.creem_api_key.reveal(), config.creem_api_base)
    return BillingDeps(
        settings=config,
        mailer=Mailer(config.mail_from),
        store=media_store(),
        stripe=stripe_payments,
        creem=creem_payments,
    )


@functools.cache
def notice_dependencies() -> NoticeDeps:
    config = settings()
    return NoticeDeps(
        mailer=Mailer(config.mail_from),
        queue=MessageQueue(config.notices_queue_url),
        app_base_url=config.app_base_url,
    )


def reset() -> None:
    media_store.cache_clear()
    billing_dependencies.cache_clear()
    notice_dependencies.cache_clear()
    generation_dependencies.cache_clear()
    account_dependencies.cache_clear()
    privacy_dependencies.cache_clear()
