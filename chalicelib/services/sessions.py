"""Access tokens (short-lived JWTs, checked for algorithm, issuer, audience and expiry) and
refresh tokens (opaque, stored only as a hash, rotated on every use)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt
from pynamodb.exceptions import DeleteError, DoesNotExist, UpdateError

from chalicelib.config import Settings
from chalicelib.errors import InvalidToken
from chalicelib.models import Session
from chalicelib.models.base import utcnow
from chalicelib.services.client_info import ClientInfo

ISSUER = "aisora"
AUDIENCE = "aisora-api"
_ALGORITHM = "HS256"


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    # Set at login when a material policy change awaits the user's acceptance.
    policy_acceptance_required: bool = False

    def as_dict(self) -> dict[str, object]:
        return {
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
            "policy_acceptance_required": self.policy_acceptance_required,
        }


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _access_token(user_id: str, session_id: str, settings: Settings, now: datetime) -> str:
    claims = {
        "sub": user_id,
        "sid": session_id,
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": int(now.timestamp()),
        "exp": int(now.timestamp()) + settings.access_token_seconds,
    }
    return jwt.encode(claims, settings.jwt_secret.reveal(), algorithm=_ALGORITHM)


def user_id_from_access_token(token: str, settings: Settings) -> str:
    """The token's user id, or InvalidToken. No database read: the token is self-contained."""
    try:
        claims = jwt.decode(
            token,
            settings.jwt_secret.reveal(),
            algorithms=[_ALGORITHM],
            issuer=ISSUER,
            audience=AUDIENCE,
            options={"require": ["exp", "iat", "sub", "iss", "aud"]},
        )
    except jwt.ExpiredSignatureError:
        raise InvalidToken("Your session has expired; sign in again or refresh it.") from None
    except jwt.InvalidTokenError:
        raise InvalidToken("The access token is not valid.") from None
    return str(claims["sub"])


def start(user_id: str, settings: Settings, client: ClientInfo) -> TokenPair:
    now = utcnow()
    session_id = uuid.uuid4().hex
    secret = secrets.token_urlsafe(32)
    expires = now + timedelta(seconds=settings.refresh_token_seconds)
    Session(
        session_id,
        user_id=user_id,
        token_hash=_hash(secret),
        created_at=now,
        last_used_at=now,
        expires_at=expires,
        expiry_day=expires.date().isoformat(),
        client_ip=client.ip,
        country=client.country,
        browser=client.browser,
        os=client.os,
        device=client.device,
    ).save(condition=Session.session_id.does_not_exist())
    return TokenPair(
        _access_token(user_id, session_id, settings, now),
        f"{session_id}.{secret}",
        settings.access_token_seconds,
    )


def _split(refresh_token: str) -> tuple[str, str]:
    session_id, _, secret = refresh_token.partition(".")
    if not session_id or not secret:
        raise InvalidToken("The refresh token is not valid.")
    return session_id, secret


def _load(session_id: str) -> Session:
    try:
        session = Session.get(session_id, consistent_read=True)
    except DoesNotExist:
        raise InvalidToken("The refresh token is not valid.") from None
    if session.expires_at <= utcnow():
        raise InvalidToken("Your session has expired; sign in again.")
    return session


def rotate(refresh_token: str, settings: Settings) -> TokenPair:
    """A new pair for a current refresh token. A token used twice revokes the whole session."""
    session_id, secret = _split(refresh_token)
    session = _load(session_id)
    if not hmac.compare_digest(session.token_hash, _hash(secret)):
        # An old token came back: someone holds a copy. End the session for both holders.
        session.delete()
        raise InvalidToken("This refresh token was already used; sign in again.")
    new_secret = secrets.token_urlsafe(32)
    try:
        session.update(
            actions=[Session.token_hash.set(_hash(new_secret)), Session.last_used_at.set(utcnow())],
            condition=Session.token_hash == _hash(secret),
        )
    except UpdateError:
        # Lost a race with another use of the same token: treat it as reuse.
        Session(session_id).delete()
        raise InvalidToken("This refresh token was already used; sign in again.") from None
    now = utcnow()
    return TokenPair(
        _access_token(session.user_id, session_id, settings, now),
        f"{session_id}.{new_secret}",
        settings.access_token_seconds,
    )


def end(refresh_token: str) -> None:
    """Logout: the session and every token derived from it stop working."""
    session_id, secret = _split(refresh_token)
    try:
        Session(session_id).delete(condition=Session.token_hash == _hash(secret))
    except DeleteError:
        raise InvalidToken("The refresh token is not valid.") from None


def end_all(user_id: str) -> int:
    """Ends every session of the user (password change or reset, account closure)."""
    ended = 0
    for session in Session.by_user.query(user_id):
        Session(session.session_id).delete()
        ended += 1
    return ended


def technical_data(user_id: str) -> list[dict[str, object]]:
    """What the sessions hold about the user's devices, for the user's own eyes."""
    return [
        {
            "created_at": s.created_at.isoformat(),
            "last_used_at": s.last_used_at.isoformat(),
            "client_ip": s.client_ip,
            "country": s.country,
            "browser": s.browser,
            "os": s.os,
            "device": s.device,
        }
        for s in Session.by_user.query(user_id)
    ]
