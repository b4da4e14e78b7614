"""Access tokens (short-lived JWTs, checked for algorithm, issuer, audience and expiry) and
refresh tokens (opaque, stored only as a hash, rotated on every use).

An access token is revoked without a read of its own: it names its session (`sid`) and the
user's token generation (`gen`), and wherever the user is read (accounts.get_user) the two are
checked against the account: a generation raised since (password reset or change) or a session
signed out refuses it."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt
from pynamodb.exceptions import DeleteError, DoesNotExist, UpdateError
from pynamodb.expressions.update import Action

from chalicelib.config import Settings
from chalicelib.errors import InvalidToken
from chalicelib.models import Session, User
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


class Caller(str):
    """The user id of a valid access token, with the session and generation the token names.

    A str, so that it goes wherever a user id goes; accounts.get_user checks the rest against
    the account it reads, so the routes that read the user refuse a revoked token for free."""

    session_id: str | None
    generation: int

    def __new__(cls, user_id: str, session_id: str | None, generation: int) -> Caller:
        caller = super().__new__(cls, user_id)
        caller.session_id = session_id
        caller.generation = generation
        return caller


def refuse_revoked(caller: Caller, user: User) -> None:
    """InvalidToken when the account ended the caller's session or raised its generation."""
    if caller.generation != int(user.token_generation or 0):
        raise InvalidToken("You were signed out when the password changed; sign in again.")
    ended = user.ended_sessions.as_dict() if user.ended_sessions else {}
    if caller.session_id is not None and caller.session_id in ended:
        raise InvalidToken("You signed out of this session; sign in again.")


def _access_token(user_id: str, session_id: str, generation: int, settings: Settings,
                  now: datetime) -> str:
    claims = {
        "sub": user_id,
        "sid": session_id,
        "gen": generation,
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": int(now.timestamp()),
        "exp": int(now.timestamp()) + settings.access_token_seconds,
    }
    return jwt.encode(claims, settings.jwt_secret.reveal(), algorithm=_ALGORITHM)


def caller_from_access_token(token: str, settings: Settings) -> Caller:
    """The token's caller, or InvalidToken. No database read: see Caller for revocation."""
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
    generation = claims.get("gen", 0)  # tokens issued before generations were counted: 0
    if not isinstance(generation, int) or isinstance(generation, bool):
        raise InvalidToken("The access token is not valid.")
    session_id = claims.get("sid")
    return Caller(str(claims["sub"]), session_id if isinstance(session_id, str) else None, generation)


def start(user_id: str, settings: Settings, client: ClientInfo, generation: int = 0) -> TokenPair:
    """A new session; `generation` is the user's token generation as read (0 for a new user)."""
    now = utcnow()
    session_id = uuid.uuid4().hex
    secret = secrets.token_urlsafe(32)
    expires = now + timedelta(seconds=settings.refresh_token_seconds)
    Session(
        session_id,
        user_id=user_id,
        token_hash=_hash(secret),
        generation=generation,
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
        _access_token(user_id, session_id, generation, settings, now),
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
        _access_token(session.user_id, session_id, int(session.generation or 0), settings, now),
        f"{session_id}.{new_secret}",
        settings.access_token_seconds,
    )


def end(refresh_token: str, settings: Settings) -> None:
    """Logout: the session ends, and its access tokens are refused where the user is read."""
    session_id, secret = _split(refresh_token)
    try:
        # One conditional DeleteItem returning the old item: whose session it was.
        answer = Session._get_connection().delete_item(
            session_id, condition=Session.token_hash == _hash(secret), return_values="ALL_OLD"
        )
    except DeleteError:
        raise InvalidToken("The refresh token is not valid.") from None
    _remember_ended(str(answer["Attributes"]["user_id"]["S"]), session_id, settings)


def _remember_ended(user_id: str, session_id: str, settings: Settings) -> None:
    """Notes the session on the user until its last access token expires, dropping notes past it."""
    now = utcnow().timestamp()
    until = int(now) + settings.access_token_seconds + 1
    for _ in range(3):
        try:
            user = User.get(user_id, attributes_to_get=["user_id", "ended_sessions"])
        except DoesNotExist:
            return  # erased: its tokens die with it
        ended = user.ended_sessions.as_dict() if user.ended_sessions else None
        actions: list[Action]
        if ended is None:
            actions = [User.ended_sessions.set({session_id: until})]
            condition = User.ended_sessions.does_not_exist()
        else:
            # Paths in the map: a parallel sign-out's note is kept, only stale ones go.
            stale = [sid for sid, expiry in ended.items() if float(expiry) < now and sid != session_id]
            actions = [User.ended_sessions[session_id].set(until)]
            actions += [User.ended_sessions[sid].remove() for sid in stale]
            condition = User.ended_sessions.exists()
        try:
            User(user_id).update(actions=actions, condition=condition & User.user_id.exists())
            return
        except UpdateError as exc:
            if getattr(exc, "cause_response_code", None) != "ConditionalCheckFailedException":
                raise
    raise InvalidToken("Signing out did not complete; try again.")


def end_all(user_id: str) -> int:
    """Ends every session of the user (password change or reset, account closure); their access
    tokens are refused once the user's token generation is raised (accounts.end_every_session)."""
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
