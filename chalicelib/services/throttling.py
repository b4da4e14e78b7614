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


# Signing in. A wrong password counts against the pair of account and client address, so a
# stranger's guesses from elsewhere never lock the owner's own address out; the account's own
# ceiling, far above what a person types, bounds a guesser with many addresses (the owner still
# signs in through a reset link, which signs in). One address is limited across all accounts.
LOGIN_PAIR = Limit("login:pair", allowed=5, window_seconds=15 * 60, message="Too many sign-in attempts.")
LOGIN_ACCOUNT = Limit("login:account", allowed=100, window_seconds=60 * 60,
                      message="Too many sign-in attempts on this account; reset the password to sign in.")
LOGIN_ADDRESS = Limit("login:address", allowed=50, window_seconds=15 * 60, message="Too many attempts.")
# Checking the password of a signed-in account (changing it or the email, closing the account):
# a stolen access token must not become a fast way to guess the password.
PASSWORD_CHECK = Limit("password:check", allowed=5, window_seconds=15 * 60,
                       message="Too many password attempts.")


def login_attempt(email: str, address: str | None) -> None:
    """Reserves one sign-in attempt before any hash is computed; the pair's count first, so
    a locked pair spends nothing of the account's ceiling."""
    take_each([(LOGIN_PAIR, f"{email}|{address}"), (LOGIN_ADDRESS, address), (LOGIN_ACCOUNT, email)])


def login_succeeded(email: str, address: str | None) -> None:
    """A right password: its reservations are given back, so only failures stay counted."""
    reserved = ((LOGIN_PAIR, f"{email}|{address}"), (LOGIN_ADDRESS, address), (LOGIN_ACCOUNT, email))
    for limit, subject in reserved:
        give_back(limit, subject)


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
    if limit.allowed <= 0:  # configured off: the first use's row would pass the condition below
        raise Throttled(max(1, math.ceil(window_end - now)), limit.message)
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
