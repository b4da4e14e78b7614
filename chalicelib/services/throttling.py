"""Throttling: uses of a thing counted per subject in fixed windows, reserved atomically.

`take` reserves one use with a conditional write that holds only while the window's count is
below the limit, so N parallel callers pass at most `allowed` times, whatever their timing: the
count is taken *before* the work it guards (a password hash, a mail), never after. Past the
limit a caller gets Throttled with the seconds left in the window; the window's end lifts it
with no one's help. Keys are hashed, so the table holds no address of anyone.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from pynamodb.exceptions import DoesNotExist, UpdateError

from chalicelib.errors import Throttled
from chalicelib.models import Throttle


@dataclass(frozen=True)
class Limit:
    """At most `allowed` uses per subject in each window of `window_seconds`."""

    scope: str
    allowed: int
    window_seconds: int
    message: str = "Too many attempts."


# Interim limits of sign-in and reset (issue 16 replaces them with per-pair ones).
ACCOUNT = Limit("login:account", allowed=5, window_seconds=15 * 60, message="Too many sign-in attempts.")
ADDRESS = Limit("login:address", allowed=50, window_seconds=15 * 60, message="Too many attempts.")
RESET_ACCOUNT = Limit("reset:account", allowed=5, window_seconds=15 * 60, message="Too many reset requests.")


def _key(limit: Limit, subject: str, now: float) -> tuple[str, float]:
    window = math.floor(now / limit.window_seconds)
    digest = hashlib.sha256(f"{limit.scope}:{subject}".encode()).hexdigest()
    return f"{limit.scope}:{digest}:{window}", (window + 1) * limit.window_seconds


def take(limit: Limit, subject: str | None, now: float | None = None) -> None:
    """Reserves one use of `limit` for `subject`, or raises Throttled and counts nothing.

    A subject of None (no client address known, say) is not limited."""
    if subject is None:
        return
    now = time.time() if now is None else now
    key, window_end = _key(limit, subject, now)
    expires = datetime.fromtimestamp(window_end + 60, UTC)
    try:
        Throttle(key).update(
            actions=[Throttle.failures.add(1), Throttle.expires_at.set(expires)],
            condition=Throttle.failures.does_not_exist() | (Throttle.failures < limit.allowed),
        )
    except UpdateError as exc:
        if getattr(exc, "cause_response_code", None) != "ConditionalCheckFailedException":
            raise
        raise Throttled(max(1, math.ceil(window_end - now)), limit.message) from None


def take_each(uses: Iterable[tuple[Limit, str | None]], now: float | None = None) -> None:
    """`take` for each pair in order; the first refusal stops (uses taken before it stay taken)."""
    for limit, subject in uses:
        take(limit, subject, now)


def used(limit: Limit, subject: str, now: float | None = None) -> int:
    """The uses counted in the current window (a consistent read), for tests and operators."""
    now = time.time() if now is None else now
    key, _ = _key(limit, subject, now)
    try:
        return int(Throttle.get(key, consistent_read=True).failures)
    except DoesNotExist:
        return 0


def give_back(limit: Limit, subject: str | None, now: float | None = None) -> None:
    """Returns a use that `take` reserved and that turned out not to count (a sign-in whose
    password was right): reserved first so that parallel attempts count, given back after."""
    if subject is None:
        return
    now = time.time() if now is None else now
    key, _ = _key(limit, subject, now)
    with contextlib.suppress(UpdateError):  # the window ended meanwhile and its row is gone
        Throttle(key).update(actions=[Throttle.failures.add(-1)], condition=Throttle.failures > 0)
