"""The one place boto3 clients are built: lazily, once per process.

Built on first use, never at import, so that a test's moto (or `make run`'s moto server,
reached through AWS_ENDPOINT_URL) is in place before any client exists. Tests clear the
caches with `reset_clients()`.
"""

from __future__ import annotations

import functools
import os
from typing import Any

import boto3
from botocore.config import Config

_TIMEOUTS = Config(connect_timeout=3, read_timeout=10, retries={"mode": "standard", "max_attempts": 3})


def _s3_config() -> Config:
    # Path-style addressing works against loopback endpoints and S3-compatible stores alike;
    # AWS itself keeps virtual-hosted style.
    custom = os.environ.get("AWS_ENDPOINT_URL") or os.environ.get("STORAGE_ENDPOINT_URL")
    style = "path" if custom else "virtual"
    return _TIMEOUTS.merge(Config(signature_version="s3v4", s3={"addressing_style": style}))


@functools.cache
def s3() -> Any:
    # The media store may be another S3-compatible service (Cloudflare R2) with credentials
    # of its own; unset, it is S3 in the same account as everything else.
    endpoint = os.environ.get("STORAGE_ENDPOINT_URL") or None
    key_id = os.environ.get("STORAGE_ACCESS_KEY_ID") or None
    secret = os.environ.get("STORAGE_SECRET_ACCESS_KEY") or None
    return boto3.client(
        "s3",
        config=_s3_config(),
        endpoint_url=endpoint,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
    )


@functools.cache
def sqs() -> Any:
    return boto3.client("sqs", config=_TIMEOUTS)


@functools.cache
def ses() -> Any:
    return boto3.client("ses", config=_TIMEOUTS)


@functools.cache
def events() -> Any:
    return boto3.client("events", config=_TIMEOUTS)


@functools.cache
def ssm() -> Any:
    return boto3.client("ssm", config=_TIMEOUTS)


def reset_clients() -> None:
    for factory in (s3, sqs, ses, events, ssm):
        factory.cache_clear()
