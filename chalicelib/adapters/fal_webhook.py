"""fal's webhooks, verified as fal documents: an Ed25519 signature (hex, `X-Fal-Webhook-Signature`)
over `"{request_id}\\n{user_id}\\n{timestamp}\\n{sha256(raw body) hex}"` by one of the keys of
fal's JWKS, with the timestamp within 5 minutes of now either way.

The JWKS is fetched at most once per `JWKS_SECONDS` per process, and again on a signature no
cached key verifies, but not more than once per `REFETCH_SECONDS`: a stream of forged webhooks
costs one fetch, not one each.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import threading
import time
from collections.abc import Mapping

import urllib3

from chalicelib.adapters import ed25519
from chalicelib.adapters.video import WebhookEvent, WebhookInvalid
from chalicelib.config import Settings

TOLERANCE_SECONDS = 300
JWKS_SECONDS = 24 * 3600
REFETCH_SECONDS = 60
APP = re.compile(r"[a-z0-9][a-z0-9._-]*/[a-z0-9][a-z0-9._-]*")
REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,63}")
_JWKS_TIMEOUT = urllib3.Timeout(connect=3.0, read=5.0)
_MAX_JWKS_BYTES = 64 * 1024


class _Keys:
    """fal's public keys by JWKS URL, for this process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cached: dict[str, tuple[float, tuple[bytes, ...]]] = {}
        self.fetches = 0  # read by tests: the cache is the point

    def get(self, url: str, now: float, stale_after: float) -> tuple[bytes, ...]:
        with self._lock:
            fetched_at, keys = self._cached.get(url, (float("-inf"), ()))
            if now - fetched_at >= stale_after:
                keys = _fetch(url)
                self.fetches += 1
                self._cached[url] = (now, keys)
            return keys

    def clear(self) -> None:
        with self._lock:
            self._cached.clear()
            self.fetches = 0


KEYS = _Keys()


def _fetch(url: str) -> tuple[bytes, ...]:
    try:
        response = urllib3.request("GET", url, timeout=_JWKS_TIMEOUT, retries=False, redirect=False,
                                   preload_content=False)
        raw = response.read(_MAX_JWKS_BYTES + 1)
        response.release_conn()
    except urllib3.exceptions.HTTPError as error:
        raise WebhookInvalid(f"fal's keys could not be fetched: {error.__class__.__name__}") from None
    if response.status != 200 or len(raw) > _MAX_JWKS_BYTES:
        raise WebhookInvalid(f"fal's keys could not be fetched: HTTP {response.status}")
    try:
        entries = json.loads(raw)["keys"]
        keys = tuple(
            base64.urlsafe_b64decode(entry["x"] + "=" * (-len(entry["x"]) % 4))
            for entry in entries
            if entry.get("kty") == "OKP" and entry.get("crv") == "Ed25519"
        )
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error):
        raise WebhookInvalid("fal's key set is not a JWKS") from None
    return tuple(key for key in keys if len(key) == 32)


def verify_webhook(raw: bytes, headers: Mapping[str, str], settings: Settings, now: float | None = None,
                   query: Mapping[str, str] | None = None) -> WebhookEvent:
    """The fal job a genuine webhook speaks of. `query` is the webhook URL's query string: it
    carries the job's app (`?app=owner/alias`), which fal does not sign, but a wrong one only
    names a job that does not exist, since the request id is signed."""
    lowered = {name.lower(): value for name, value in headers.items()}
    request_id = lowered.get("x-fal-webhook-request-id", "")
    user_id = lowered.get("x-fal-webhook-user-id", "")
    timestamp = lowered.get("x-fal-webhook-timestamp", "")
    signature_hex = lowered.get("x-fal-webhook-signature", "")
    if not (request_id and user_id and timestamp and signature_hex):
        raise WebhookInvalid("fal's webhook is not signed")
    if not REQUEST_ID.fullmatch(request_id):
        raise WebhookInvalid("fal's webhook names no valid request id")
    now = time.time() if now is None else now
    if not timestamp.isdigit() or abs(now - int(timestamp)) > TOLERANCE_SECONDS:
        raise WebhookInvalid("fal's webhook is not from the last 5 minutes")
    try:
        signature = bytes.fromhex(signature_hex)
    except ValueError:
        raise WebhookInvalid("fal's webhook signature is not hex") from None
    message = f"{request_id}\n{user_id}\n{timestamp}\n{hashlib.sha256(raw).hexdigest()}".encode()
    url = settings.fal_jwks_url
    if not any(ed25519.verify(key, message, signature) for key in KEYS.get(url, now, JWKS_SECONDS)):
        # fal may have rotated its keys since they were cached.
        keys = KEYS.get(url, now, REFETCH_SECONDS)
        if not any(ed25519.verify(key, message, signature) for key in keys):
            raise WebhookInvalid("fal's webhook signature does not verify")
    app = (query or {}).get("app", "")
    if not APP.fullmatch(app):
        raise WebhookInvalid("fal's webhook address names no app")
    return WebhookEvent(f"{app}/requests/{request_id}")
