"""Builds the services' dependencies from Settings, once per process, at the edge.

Tests build their own `Dependencies` (a fake provider, say) instead of patching.
"""

from __future__ import annotations

import functools

from chalicelib.adapters.mail import Mailer
from chalicelib.adapters.queue import MessageQueue
from chalicelib.adapters.storage import MediaStore
from chalicelib.adapters.video import VideoProvider
from chalicelib.config import ConfigError, Settings, settings
from chalicelib.services import billing
from chalicelib.services.accounts import AccountDeps
from chalicelib.services.billing import BillingDeps
from chalicelib.services.generation import Dependencies
from chalicelib.services.moderation import Moderator
from chalicelib.services.policy_notices import NoticeDeps
from chalicelib.services.privacy import PrivacyDeps


def video_provider(config: Settings) -> VideoProvider:
    if config.video_provider == "local":
        from chalicelib.adapters.local_video import LocalRenderer

        return LocalRenderer(config.local_render_dir)
    if config.video_api_key is None:
        raise ConfigError("VIDEO_PROVIDER=openai needs VIDEO_API_KEY")
    # Imported here: the openai SDK costs more to import than the whole API besides.
    from chalicelib.adapters.openai_video import OpenAIVideos

    return OpenAIVideos.from_settings(config)


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
        provider=video_provider(config),
        download_url_seconds=config.download_url_seconds,
        recheck_delay_seconds=config.recheck_delay_seconds,
        moderator=moderator(config),
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
