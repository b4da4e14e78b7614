"""Signing up, signing in, and reading one's own account."""

from __future__ import annotations

import functools
import re
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from pynamodb.connection import Connection
from pynamodb.exceptions import DoesNotExist, TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.config import Settings
from chalicelib.errors import EmailTaken, InvalidCredentials, InvalidInput, NotFound, UnderMinimumAge
from chalicelib.models import EmailClaim, LedgerEntry, User
from chalicelib.models.base import utcnow
from chalicelib.services import catalogue, policy, sessions

# argon2id with RFC 9106's low-memory profile (t=3, 64 MiB, p=4): above OWASP's minimum.
_hasher = PasswordHasher(time_cost=3, memory_cost=64 * 1024, parallelism=4)

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
MIN_PASSWORD, MAX_PASSWORD = 8, 1024


@functools.cache
def _decoy_hash() -> str:
    # Checked against when the email is unknown, so both answers cost one argon2 verify.
    return _hasher.hash(uuid.uuid4().hex)


@dataclass(frozen=True)
class SignupForm:
    email: str
    password: str
    birth_date: date
    accept_policy_version: str
    marketing_opt_in: bool


def normalise_email(raw: object) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise InvalidInput("email is required", field="email")
    email = raw.strip().lower()
    if len(email) > 254 or not _EMAIL.match(email):
        raise InvalidInput("email is not a valid address", field="email")
    return email


def _password(raw: object, field: str = "password") -> str:
    if not isinstance(raw, str) or not raw:
        raise InvalidInput(f"{field} is required", field=field)
    if len(raw) < MIN_PASSWORD:
        raise InvalidInput(f"{field} must have at least {MIN_PASSWORD} characters", field=field)
    if len(raw) > MAX_PASSWORD:
        raise InvalidInput(f"{field} must have at most {MAX_PASSWORD} characters", field=field)
    return raw


def _birth_date(raw: object, today: date) -> date:
    if not isinstance(raw, str):
        raise InvalidInput("birth_date is required, as YYYY-MM-DD", field="birth_date")
    try:
        born = date.fromisoformat(raw)
    except ValueError:
        raise InvalidInput("birth_date must be a date as YYYY-MM-DD", field="birth_date") from None
    if born > today or born.year < today.year - 130:
        raise InvalidInput("birth_date is not a plausible birth date", field="birth_date")
    return born


def age_on(born: date, today: date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def parse_signup(body: dict[str, Any], today: date) -> SignupForm:
    """Checks every field before anything is stored; under 13 is refused here."""
    email = normalise_email(body.get("email"))
    password = _password(body.get("password"))
    if password.strip().lower() == email:
        raise InvalidInput("password must not be your email address", field="password")
    born = _birth_date(body.get("birth_date"), today)
    if age_on(born, today) < policy.MINIMUM_AGE:
        raise UnderMinimumAge(
            f"You must be at least {policy.MINIMUM_AGE} years old to use AISora2.",
            field="birth_date",
        )
    version = body.get("accept_policy_version")
    if version != policy.VERSION:
        raise InvalidInput(
            f"accept the current privacy policy (version {policy.VERSION}) to sign up",
            field="accept_policy_version",
        )
    marketing = body.get("marketing_opt_in", False)
    if not isinstance(marketing, bool):
        raise InvalidInput("marketing_opt_in must be true or false", field="marketing_opt_in")
    return SignupForm(email, password, born, version, marketing)


def signup(form: SignupForm, settings: Settings) -> sessions.TokenPair:
    """Creates the account, claims the email and grants the signup credits in one transaction."""
    now = utcnow()
    user_id = uuid.uuid4().hex
    user = User(
        user_id,
        email=form.email,
        password_hash=_hasher.hash(form.password),
        credits=catalogue.SIGNUP_GRANT,
        age_attested_at=now,
        policy_version=form.accept_policy_version,
        policy_accepted_at=now,
        marketing_opt_in=form.marketing_opt_in,
        marketing_choice_at=now,
        created_at=now,
    )
    grant = LedgerEntry(
        user_id,
        "signup",
        kind="signup_grant",
        amount=catalogue.SIGNUP_GRANT,
        balance_after=catalogue.SIGNUP_GRANT,
        created_at=now,
    )
    try:
        with TransactWrite(connection=Connection()) as tx:
            tx.save(EmailClaim(form.email, user_id=user_id), condition=EmailClaim.email.does_not_exist())
            tx.save(user, condition=User.user_id.does_not_exist())
            tx.save(grant, condition=LedgerEntry.reference.does_not_exist())
    except TransactWriteError as exc:
        reasons = exc.cancellation_reasons or []
        if reasons and reasons[0] is not None and reasons[0].code == "ConditionalCheckFailed":
            raise EmailTaken("An account with this email already exists.", field="email") from None
        raise
    return sessions.start(user_id, settings)


def login(body: dict[str, Any], settings: Settings) -> sessions.TokenPair:
    """Same answer, and about the same work, for an unknown email and a wrong password."""
    password = body.get("password")
    if not isinstance(password, str) or not password:
        raise InvalidInput("password is required", field="password")
    if len(password) > MAX_PASSWORD:
        raise InvalidCredentials("The email or password is wrong.")
    email = normalise_email(body.get("email"))
    user = _user_by_email(email)
    stored = user.password_hash if user and user.status == "active" else _decoy_hash()
    try:
        _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        raise InvalidCredentials("The email or password is wrong.") from None
    if user is None or user.status != "active":
        raise InvalidCredentials("The email or password is wrong.")
    if _hasher.check_needs_rehash(user.password_hash):
        user.update(actions=[User.password_hash.set(_hasher.hash(password))])
    return sessions.start(user.user_id, settings)


def _user_by_email(email: str) -> User | None:
    try:
        claim = EmailClaim.get(email)
        return User.get(claim.user_id)
    except DoesNotExist:
        return None


def get_user(user_id: str) -> User:
    try:
        return User.get(user_id)
    except DoesNotExist:
        raise NotFound("This account no longer exists.") from None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def profile(user: User) -> dict[str, object]:
    plan = catalogue.plan(user.plan)
    return {
        "id": user.user_id,
        "email": user.email,
        "plan": plan.id,
        "retention_days": plan.retention_days,
        "credits": int(user.credits),
        "preferences": user.preferences.as_dict() if user.preferences else {},
        "consents": {
            "privacy_policy": {
                "version": user.policy_version,
                "accepted_at": _iso(user.policy_accepted_at),
            },
            "marketing": {
                "opted_in": user.marketing_opt_in,
                "changed_at": _iso(user.marketing_choice_at),
            },
        },
        "created_at": _iso(user.created_at),
    }
