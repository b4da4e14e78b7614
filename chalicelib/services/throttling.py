"""Login throttling: failures counted per account and per client address in fixed windows.

Past the limit a caller gets Throttled with the seconds left in the window; the window's end
lifts it with no one's help. Keys are hashed, so the table holds no address of anyone.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from pynamodb.exceptions import DoesNotExist

from chalicelib.errors import Throttled
from chalicelib.models import Throttle


@dataclass(frozen=True)
class Limit:
    scope: str
    failures: int
    window_seconds: int


ACCOUNT = Limit("account", failures=5, window_seconds=15 * 60)
ADDRESS = Limit("address", failures=50, window_seconds=15 * 60)


def _key(limit: Limit, subject: str, now: float) -> tuple[str, float]:
    window = math.floor(now / limit.window_seconds)
    digest = hashlib.sha256(f"{limit.scope}:{subject}".encode()).hexdigest()
    return f"login:{limit.scope}:{digest}:{window}", (window + 1) * limit.window_seconds


def check(subjects: list[tuple[Limit, str | None]], now: float | None = None) -> None:
    now = time.time() if now is None else now
    for limit, subject in subjects:
        if subject is None:
            continue
        key, window_end = _key(limit, subject, now)
        try:
            failures = int(Throttle.get(key).failures)
        except DoesNotExist:
            continue
        if failures >= limit.failures:
            raise Throttled(retry_after=max(1, math.ceil(window_end - now)))


def record_failure(subjects: list[tuple[Limit, str | None]], now: float | None = None) -> None:
    now = time.time() if now is None else now
    for limit, subject in subjects:
        if subject is None:
            continue
        key, window_end = _key(limit, subject, now)
        expires = datetime.fromtimestamp(window_end + 60, UTC)
        Throttle(key).update(actions=[Throttle.failures.add(1), Throttle.expires_at.set(expires)])
