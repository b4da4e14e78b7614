"""Single-use emailed links: issued as a random token, stored as its hash, consumed once."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from pynamodb.exceptions import DeleteError

from chalicelib.errors import LinkInvalid
from chalicelib.models import OneTimeToken
from chalicelib.models.base import utcnow

VERIFY_EMAIL = "verify_email"
RESET_PASSWORD = "reset_password"  # noqa: S105 - a purpose name, not a secret
# Sent to the old address when the email changes: it puts that address back.
RESTORE_EMAIL = "restore_email"
LIFETIMES = {
    VERIFY_EMAIL: timedelta(hours=24),
    RESET_PASSWORD: timedelta(minutes=30),
    RESTORE_EMAIL: timedelta(days=14),
}


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue(purpose: str, user_id: str, email: str | None = None) -> str:
    token = secrets.token_urlsafe(32)
    now = utcnow()
    expires = now + LIFETIMES[purpose]
    OneTimeToken(
        _hash(token), purpose=purpose, user_id=user_id, email=email, created_at=now,
        expires_at=expires, expiry_day=expires.date().isoformat(),
    ).save(condition=OneTimeToken.token_hash.does_not_exist())
    return token


def consume(token: object, purpose: str) -> OneTimeToken:
    """The token's record, deleted by the same call, so that a second use finds nothing."""
    invalid = LinkInvalid("This link is not valid any more. Ask for a new one.", field="token")
    if not isinstance(token, str) or not 20 <= len(token) <= 100:
        raise invalid
    try:
        # One conditional DeleteItem returning the old item: the read and the use are one step.
        answer = OneTimeToken._get_connection().delete_item(
            _hash(token),
            condition=OneTimeToken.token_hash.exists() & (OneTimeToken.purpose == purpose),
            return_values="ALL_OLD",
        )
    except DeleteError:
        raise invalid from None
    record = OneTimeToken.from_raw_data(answer["Attributes"])
    if record.expires_at <= utcnow():
        raise invalid
    return record


def revoke_all(user_id: str, keep: str | None = None) -> int:
    """Deletes the user's outstanding links, except those of purpose `keep`; the number deleted.

    The link in use is gone already (consume deleted it). A password reset keeps the links that
    restore an old address: they are in the hands of the address's owner, and a reset made by
    whoever took the account must not take them away."""
    revoked = 0
    for key in OneTimeToken.by_user.query(user_id):
        condition = OneTimeToken.token_hash.exists()
        if keep is not None:
            condition &= OneTimeToken.purpose != keep
        try:
            OneTimeToken(key.token_hash).delete(condition=condition)
            revoked += 1
        except DeleteError as exc:
            if getattr(exc, "cause_response_code", None) != "ConditionalCheckFailedException":
                raise
            # used meanwhile, or one to keep
    return revoked
