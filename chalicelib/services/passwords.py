"""Password rules and hashing: argon2id, strength checked with zxcvbn."""

from __future__ import annotations

import functools
import uuid

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from chalicelib.errors import InvalidInput

# argon2id with RFC 9106's low-memory profile (t=3, 64 MiB, p=4): above OWASP's minimum of
# 19 MiB, t=2, p=1. Changing these rehashes each password at its owner's next login.
HASHER = PasswordHasher(time_cost=3, memory_cost=64 * 1024, parallelism=4)
MIN_LENGTH, MAX_LENGTH = 8, 1024
# zxcvbn's own limit; its work grows quickly with length, and a longer prefix adds nothing.
_STRENGTH_PREFIX = 72
MIN_SCORE = 3


def check(password: object, field: str, user_inputs: list[str]) -> str:
    """The password if it is acceptable; otherwise InvalidInput saying why."""
    if not isinstance(password, str) or not password:
        raise InvalidInput(f"{field} is required", field=field)
    if len(password) < MIN_LENGTH:
        raise InvalidInput(f"{field} must have at least {MIN_LENGTH} characters", field=field)
    if len(password) > MAX_LENGTH:
        raise InvalidInput(f"{field} must have at most {MAX_LENGTH} characters", field=field)
    # Imported on first use: its dictionaries cost 20 ms that other requests need not pay.
    from zxcvbn import zxcvbn

    verdict = zxcvbn(password[:_STRENGTH_PREFIX], user_inputs=user_inputs)
    if verdict["score"] < MIN_SCORE:
        feedback = verdict["feedback"]
        reasons = [feedback.get("warning") or "This password is too easy to guess."]
        reasons += feedback.get("suggestions", [])
        raise InvalidInput(" ".join(r for r in reasons if r), field=field)
    return password


def hash_password(password: str) -> str:
    return HASHER.hash(password)


def verify(stored_hash: str, password: str) -> bool:
    try:
        return HASHER.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    return HASHER.check_needs_rehash(stored_hash)


@functools.cache
def _decoy_hash() -> str:
    return HASHER.hash(uuid.uuid4().hex)


def verify_decoy(password: str) -> None:
    """The work of one verify, for an unknown email, so timing does not tell who has an account."""
    verify(_decoy_hash(), password)
