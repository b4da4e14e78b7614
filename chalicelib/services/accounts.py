"""Accounts: signing up and in, verifying the email, resetting and changing the password,
and reading and correcting one's own account."""

from __future__ import annotations

import logging
import re
import unicodedata
import uuid
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from pynamodb.exceptions import DoesNotExist, TransactWriteError

from chalicelib import observability
from chalicelib.adapters.mail import Mailer
from chalicelib.config import Settings
from chalicelib.errors import (
    AccountGone,
    EmailTaken,
    InvalidCredentials,
    InvalidInput,
    LinkInvalid,
    UnderMinimumAge,
)
from chalicelib.models import EmailClaim, LedgerEntry, User
from chalicelib.models.base import transaction, utcnow
from chalicelib.services import audit, catalogue, notices, onetime, passwords, policy, sessions, throttling
from chalicelib.services.client_info import ClientInfo

log = logging.getLogger(__name__)

# Deliberately plain: one @, no spaces, a dotted domain. Deliverability is what the
# verification link proves; a longer regex would only refuse real addresses.
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
LANGUAGES = ("en", "es", "fr", "de", "it", "pt", "ja", "ko", "zh")


@dataclass(frozen=True)
class AccountDeps:
    settings: Settings
    mailer: Mailer


@dataclass(frozen=True)
class SignupForm:
    email: str
    password: str
    accept_policy_version: str
    marketing_opt_in: bool


# --- reading input ------------------------------------------------------------------------


def normalise_email(raw: object, field: str = "email") -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise InvalidInput(f"{field} is required", field=field)
    # NFKC folds look-alike forms (fullwidth letters, ligatures) into one spelling, so that
    # two spellings of one address cannot hold two accounts.
    email = unicodedata.normalize("NFKC", raw).strip().lower()
    if len(email) > 254 or not _EMAIL.match(email) or not email.isprintable():
        raise InvalidInput(f"{field} is not a valid address", field=field)
    return email


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


def _bool(body: dict[str, Any], field: str, default: bool) -> bool:
    value = body.get(field, default)
    if not isinstance(value, bool):
        raise InvalidInput(f"{field} must be true or false", field=field)
    return value


def parse_signup(body: dict[str, Any], today: date) -> SignupForm:
    """Checks every field before anything is stored. Under 13 is refused here, so nothing
    about the child is ever written; the birth date itself is never kept for anyone."""
    email = normalise_email(body.get("email"))
    born = _birth_date(body.get("birth_date"), today)
    if age_on(born, today) < policy.MINIMUM_AGE:
        raise UnderMinimumAge(
            f"You must be at least {policy.MINIMUM_AGE} years old to use AISora2.",
            field="birth_date",
        )
    password = passwords.check(body.get("password"), "password", [email, *email.split("@")])
    version = body.get("accept_policy_version")
    if version != policy.in_force().version:
        raise InvalidInput(
            f"accept the privacy policy in force (version {policy.in_force().version}) to sign up",
            field="accept_policy_version",
        )
    return SignupForm(email, password, version, _bool(body, "marketing_opt_in", False))


# --- signing up and in --------------------------------------------------------------------


def signup(form: SignupForm, deps: AccountDeps, client: ClientInfo) -> sessions.TokenPair:
    """Creates the account, claims the email and grants the signup credits in one transaction."""
    now = utcnow()
    user_id = uuid.uuid4().hex
    user = User(
        user_id,
        email=form.email,
        password_hash=passwords.hash_password(form.password),
        credits=catalogue.SIGNUP_GRANT,
        age_attested_at=now,
        policy_version=form.accept_policy_version,
        policy_accepted_at=now,
        marketing_opt_in=form.marketing_opt_in,
        marketing_choice_at=now,
        created_at=now,
    )
    grant = LedgerEntry.new(
        user_id,
        "signup",
        kind="signup_grant",
        amount=catalogue.SIGNUP_GRANT,
        balance_after=catalogue.SIGNUP_GRANT,
        created_at=now,
    )
    try:
        with transaction() as tx:
            tx.save(EmailClaim(form.email, user_id=user_id), condition=EmailClaim.email.does_not_exist())
            tx.save(user, condition=User.user_id.does_not_exist())
            tx.save(grant, condition=LedgerEntry.reference.does_not_exist())
    except TransactWriteError as exc:
        reasons = exc.cancellation_reasons or []
        if reasons and reasons[0] is not None and reasons[0].code == "ConditionalCheckFailed":
            raise EmailTaken("An account with this email already exists.", field="email") from None
        raise
    observability.metric("CreditsGranted", catalogue.SIGNUP_GRANT, "Count", kind="signup_grant")
    audit.record(user_id, "signup", ["email", "password", "policy_version", "marketing_opt_in"], client)
    _send_verification(user_id, form.email, deps)
    return sessions.start(user_id, deps.settings, client)


def _send_verification(user_id: str, email: str, deps: AccountDeps) -> None:
    token = onetime.issue(onetime.VERIFY_EMAIL, user_id, email)
    _mail(deps, email, notices.verify_email(deps.settings.app_base_url, token))


def _mail(deps: AccountDeps, to: str, notice: notices.Notice) -> None:
    # Mail is a courtesy around the change, never a condition of it: the change stands, and
    # the person can ask for the link again.
    try:
        deps.mailer.send(to, notice.subject, notice.text)
    except Exception as exc:
        # The class only: a mail service's error text can name the address.
        log.error("could not send %r: %s", notice.subject, type(exc).__name__)


def login(body: dict[str, Any], deps: AccountDeps, client: ClientInfo) -> sessions.TokenPair:
    """Same answer, and about the same work, for an unknown email and a wrong password."""
    password = body.get("password")
    if not isinstance(password, str) or not password:
        raise InvalidInput("password is required", field="password")
    email = normalise_email(body.get("email"))
    attempt = [(throttling.ACCOUNT, email), (throttling.ADDRESS, client.ip)]
    throttling.take_each(attempt)
    user = user_by_email(email)
    if len(password) > passwords.MAX_LENGTH or user is None or user.status != "active":
        passwords.verify_decoy(password[: passwords.MAX_LENGTH])
        raise InvalidCredentials("The email or password is wrong.")
    if not passwords.verify(user.password_hash, password):
        raise InvalidCredentials("The email or password is wrong.")
    for limit, subject in attempt:
        throttling.give_back(limit, subject)
    if passwords.needs_rehash(user.password_hash):
        user.update(actions=[User.password_hash.set(passwords.hash_password(password))])
    pair = sessions.start(user.user_id, deps.settings, client)
    return replace(pair, policy_acceptance_required=policy.needs_acceptance(user.policy_version))


def user_by_email(email: str) -> User | None:
    try:
        claim = EmailClaim.get(email)
        return User.get(claim.user_id)
    except DoesNotExist:
        return None


def get_user(user_id: str) -> User:
    """The signed-in account; a closed one is as gone as an erased one, and its token with it."""
    try:
        user = User.get(user_id)
    except DoesNotExist:
        raise AccountGone() from None
    if user.status != "active":
        raise AccountGone()
    return user


def _linked_user(record: Any) -> User:
    """The account an emailed link was sent for, while it is open."""
    try:
        return get_user(record.user_id)
    except AccountGone:
        raise LinkInvalid("This link is for an account that has been closed.", field="token") from None


# --- emailed links ------------------------------------------------------------------------


def verify_email(token: object, deps: AccountDeps, client: ClientInfo) -> dict[str, object]:
    """Confirms an address: the signup address, or a new one, which then replaces the old."""
    record = onetime.consume(token, onetime.VERIFY_EMAIL)
    user = _linked_user(record)
    now = utcnow()
    if record.email == user.email:
        user.update(actions=[User.email_verified_at.set(now)])
        audit.record(user.user_id, "email_verified", ["email_verified_at"], client)
        return profile(get_user(user.user_id))
    if record.email != user.pending_email or record.email is None:
        raise LinkInvalid("This link is for an address change that was replaced.", field="token")
    old_email, new_email = user.email, record.email
    try:
        with transaction() as tx:
            tx.save(EmailClaim(new_email, user_id=user.user_id), condition=EmailClaim.email.does_not_exist())
            tx.delete(EmailClaim(old_email), condition=EmailClaim.user_id == user.user_id)
            tx.update(
                User(user.user_id),
                actions=[
                    User.email.set(new_email),
                    User.email_verified_at.set(now),
                    User.pending_email.remove(),
                ],
                condition=User.pending_email == new_email,
            )
    except TransactWriteError:
        raise EmailTaken("Another account now uses this email.", field="email") from None
    audit.record(user.user_id, "email_changed", ["email"], client)
    _mail(deps, old_email, notices.email_changed(new_email))
    return profile(get_user(user.user_id))


def resend_verification(user_id: str, deps: AccountDeps) -> None:
    user = get_user(user_id)
    if user.pending_email:
        _send_verification(user_id, user.pending_email, deps)
    elif user.email_verified_at is None:
        _send_verification(user_id, user.email, deps)


def request_password_reset(body: dict[str, Any], deps: AccountDeps, client: ClientInfo) -> None:
    """Mails a reset link if the account exists. The answer is the same either way."""
    email = normalise_email(body.get("email"))
    # Throttled per address too, so that this cannot be used to flood someone's inbox.
    throttling.take_each([(throttling.RESET_ACCOUNT, email), (throttling.ADDRESS, client.ip)])
    user = user_by_email(email)
    if user is None or user.status != "active":
        return
    token = onetime.issue(onetime.RESET_PASSWORD, user.user_id)
    _mail(deps, user.email, notices.reset_password(deps.settings.app_base_url, token))


def _set_password(user: User, password: str, action: str, deps: AccountDeps, client: ClientInfo) -> None:
    user.update(
        actions=[
            User.password_hash.set(passwords.hash_password(password)),
            User.password_changed_at.set(utcnow()),
        ]
    )
    sessions.end_all(user.user_id)
    audit.record(user.user_id, action, ["password"], client)
    _mail(deps, user.email, notices.password_changed())


def confirm_password_reset(body: dict[str, Any], deps: AccountDeps, client: ClientInfo) -> None:
    """Sets the new password and signs out every device."""
    # The new password is checked before the link is used up, so a weak choice can be corrected.
    new_password = passwords.check(body.get("password"), "password", [])
    record = onetime.consume(body.get("token"), onetime.RESET_PASSWORD)
    _set_password(_linked_user(record), new_password, "password_reset", deps, client)


def change_password(
    user_id: str, body: dict[str, Any], deps: AccountDeps, client: ClientInfo
) -> sessions.TokenPair:
    """Needs the current password; ends every session, then starts this one afresh."""
    user = get_user(user_id)
    current = body.get("current_password")
    if not isinstance(current, str) or not passwords.verify(user.password_hash, current):
        raise InvalidCredentials("The current password is wrong.", field="current_password")
    new_password = passwords.check(body.get("new_password"), "new_password", [user.email])
    _set_password(user, new_password, "password_changed", deps, client)
    return sessions.start(user_id, deps.settings, client)


# --- reading and correcting the account ----------------------------------------------------


def _preferences(raw: object, current: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise InvalidInput("preferences must be an object", field="preferences")
    merged = dict(current)
    for key, value in raw.items():
        field = f"preferences.{key}"
        if key == "language":
            if value not in LANGUAGES:
                raise InvalidInput(f"{field} must be one of {', '.join(LANGUAGES)}", field=field)
        elif key == "default_model":
            # A list or an object is no model id (and, unhashable, cannot be looked up as one).
            if not isinstance(value, str) or value not in catalogue.MODELS:
                raise InvalidInput(f"{field} must be one of {', '.join(catalogue.MODELS)}", field=field)
        elif key == "default_seconds":
            lengths = sorted({s for m in catalogue.MODELS.values() for s in m.seconds})
            if value not in lengths or isinstance(value, bool):
                raise InvalidInput(f"{field} must be one of {', '.join(map(str, lengths))}", field=field)
        elif key == "default_size":
            sizes = sorted({s for m in catalogue.MODELS.values() for s in m.sizes})
            if value not in sizes:
                raise InvalidInput(f"{field} must be one of {', '.join(sizes)}", field=field)
        elif key == "notifications":
            if not isinstance(value, dict) or not value or not all(
                k in ("video_ready", "product_updates") and isinstance(v, bool) for k, v in value.items()
            ):
                raise InvalidInput(
                    f"{field} takes video_ready and product_updates, each true or false", field=field
                )
            value = {**merged.get("notifications", {}), **value}
        else:
            raise InvalidInput(f"{field} is not a preference", field=field)
        merged[key] = value
    return merged


def update_profile(
    user_id: str, body: dict[str, Any], deps: AccountDeps, client: ClientInfo
) -> dict[str, object]:
    """PATCH /me: preferences and the marketing choice at once; a new email once verified."""
    unknown = sorted(set(body) - {"email", "preferences", "marketing_opt_in"})
    if unknown:
        raise InvalidInput(f"{unknown[0]} cannot be changed here", field=unknown[0])
    if not body:
        raise InvalidInput("send at least one of email, preferences, marketing_opt_in")
    user = get_user(user_id)
    actions = []
    changed = []
    new_email = None
    if "email" in body:
        new_email = normalise_email(body["email"])
        if new_email != user.email:
            actions.append(User.pending_email.set(new_email))
            changed.append("pending_email")
    if "preferences" in body:
        current = user.preferences.as_dict() if user.preferences else {}
        actions.append(User.preferences.set(_preferences(body["preferences"], current)))
        changed.append("preferences")
    if "marketing_opt_in" in body:
        actions += [
            User.marketing_opt_in.set(_bool(body, "marketing_opt_in", False)),
            User.marketing_choice_at.set(utcnow()),
        ]
        changed.append("marketing_opt_in")
    if actions:
        user.update(actions=actions)
        audit.record(user_id, "profile_updated", changed, client)
    if new_email and new_email != user.email:
        # Sent even if another account holds the address: saying so here would tell a
        # stranger who has an account. The verification step refuses it instead.
        _send_verification(user_id, new_email, deps)
    return profile(get_user(user_id))


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def profile(user: User) -> dict[str, object]:
    plan = catalogue.plan(user.plan)
    return {
        "id": user.user_id,
        "email": user.email,
        "email_verified": user.email_verified_at is not None,
        "pending_email": user.pending_email,
        "plan": plan.id,
        "retention_days": plan.retention_days,
        "credits": int(user.credits),
        "preferences": user.preferences.as_dict() if user.preferences else {},
        "consents": {
            "privacy_policy": {
                "version": user.policy_version,
                "accepted_at": _iso(user.policy_accepted_at),
                "in_force": policy.in_force().version,
                "acceptance_required": policy.needs_acceptance(user.policy_version),
            },
            "marketing": {
                "opted_in": user.marketing_opt_in,
                "changed_at": _iso(user.marketing_choice_at),
            },
            "analytics": {
                "consented": user.analytics_consent,
                "changed_at": _iso(user.analytics_choice_at),
            },
        },
        "subscription": {
            "provider": user.subscription_provider,
            "status": user.subscription_status,
        } if user.subscription_id else None,
        "created_at": _iso(user.created_at),
    }


def accept_policy(user_id: str, body: dict[str, Any], client: ClientInfo) -> dict[str, object]:
    """Records acceptance of the policy in force (asked after a material change)."""
    version = body.get("version")
    if version != policy.in_force().version:
        raise InvalidInput(
            f"version must be the policy in force, {policy.in_force().version}", field="version"
        )
    user = get_user(user_id)
    user.update(actions=[User.policy_version.set(version), User.policy_accepted_at.set(utcnow())])
    audit.record(user_id, "policy_accepted", ["policy_version"], client)
    return profile(get_user(user_id))
