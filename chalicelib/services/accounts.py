"""Accounts: signing up, verifying and changing the email, and reading and correcting one's
own account. Signing in and passwords are in credentials.py."""

from __future__ import annotations

import logging
import re
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from pynamodb.exceptions import DoesNotExist, TransactWriteError

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
from chalicelib.models import EmailClaim, User
from chalicelib.models.base import transaction, utcnow
from chalicelib.services import (
    audit,
    catalogue,
    notices,
    onetime,
    passwords,
    policy,
    sessions,
    throttling,
)
from chalicelib.services.client_info import ClientInfo
from chalicelib.services.throttling import Limit

log = logging.getLogger(__name__)

# Deliberately plain: one @, no spaces, a dotted domain. Deliverability is what the
# verification link proves; a longer regex would only refuse real addresses.
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
LANGUAGES = ("en", "es", "fr", "de", "it", "pt", "ja", "ko", "zh")
_HOUR = 3600
# Mail with a link goes to one address at most a handful of times an hour, whoever asks, so no
# route can flood an inbox; reset requests count on their own.
MAIL_RECIPIENT = Limit("mail:recipient", allowed=5, window_seconds=_HOUR,
                       message="Too many emails to this address.")


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


# --- signing up ---------------------------------------------------------------------------


def per_address(scope: str, allowed: int, message: str) -> Limit:
    return Limit(scope, allowed=allowed, window_seconds=_HOUR, message=message)


def signup(form: SignupForm, deps: AccountDeps, client: ClientInfo) -> sessions.TokenPair:
    """Creates the account and claims the email in one transaction. The signup credits wait
    for the address to be verified (signup_credits)."""
    # Before the hash: each costs 64 MiB, and a taken address must not be a free probe.
    throttling.take(per_address("signup:address", deps.settings.signups_per_address_hour,
                                 "Too many accounts created from this network."), client.ip)
    now = utcnow()
    user_id = uuid.uuid4().hex
    user = User(
        user_id,
        email=form.email,
        password_hash=passwords.hash_password(form.password),
        credits=0,
        signup_grant_pending=True,
        age_attested_at=now,
        policy_version=form.accept_policy_version,
        policy_accepted_at=now,
        marketing_opt_in=form.marketing_opt_in,
        marketing_choice_at=now,
        created_at=now,
    )
    try:
        with transaction() as tx:
            tx.save(EmailClaim(form.email, user_id=user_id), condition=EmailClaim.email.does_not_exist())
            tx.save(user, condition=User.user_id.does_not_exist())
    except TransactWriteError as exc:
        reasons = exc.cancellation_reasons or []
        if reasons and reasons[0] is not None and reasons[0].code == "ConditionalCheckFailed":
            raise EmailTaken("An account with this email already exists.", field="email") from None
        raise
    audit.record(user_id, "signup", ["email", "password", "policy_version", "marketing_opt_in"], client)
    send_verification(user_id, form.email, deps)
    return sessions.start(user_id, deps.settings, client)


def take_mail(deps: AccountDeps, to: str, client: ClientInfo) -> None:
    """Reserves one mail with a link to `to`, per recipient and per client address."""
    from_client = per_address("mail:address", deps.settings.mails_per_address_hour,
                              "Too many emails asked for from this network.")
    throttling.take_each([(MAIL_RECIPIENT, to), (from_client, client.ip)])


def send_verification(user_id: str, email: str, deps: AccountDeps) -> None:
    token = onetime.issue(onetime.VERIFY_EMAIL, user_id, email)
    mail(deps, email, notices.verify_email(deps.settings.app_base_url, token))


def mail(deps: AccountDeps, to: str, notice: notices.Notice) -> None:
    # Mail is a courtesy around the change, never a condition of it: the change stands, and
    # the person can ask for the link again.
    try:
        deps.mailer.send(to, notice.subject, notice.text)
    except Exception as exc:
        # The class only: a mail service's error text can name the address.
        log.error("could not send %r: %s", notice.subject, type(exc).__name__)


def user_by_email(email: str) -> User | None:
    try:
        claim = EmailClaim.get(email)
        return User.get(claim.user_id)
    except DoesNotExist:
        return None


def get_user(user_id: str, attributes: list[str] | None = None, consistent: bool = False) -> User:
    """The signed-in account; a closed one is as gone as an erased one, and its token with it.

    Given a sessions.Caller (the id from an access token), also refuses a revoked token: the
    check rides on the read every such route makes anyway."""
    try:
        user = User.get(user_id, attributes_to_get=attributes, consistent_read=consistent)
    except DoesNotExist:
        raise AccountGone() from None
    if user.status != "active":
        raise AccountGone()
    if isinstance(user_id, sessions.Caller):
        sessions.refuse_revoked(user_id, user)
    return user


def require_current(caller: sessions.Caller) -> str:
    """For the routes that do not read the account: one small read of what revokes a token."""
    get_user(caller, attributes=["user_id", "status", "token_generation", "ended_sessions"])
    return caller


def linked_user(record: Any) -> User:
    """The account an emailed link was sent for, while it is open."""
    try:
        return get_user(record.user_id)
    except AccountGone:
        raise LinkInvalid("This link is for an account that has been closed.", field="token") from None


def check_password(user: User, given: object, field: str) -> None:
    """The account's own password, asked again: counted per account before the hash."""
    if not isinstance(given, str) or not given:
        raise InvalidInput(f"{field} is required: your current password", field=field)
    throttling.take(throttling.PASSWORD_CHECK, user.user_id)
    if not passwords.verify(user.password_hash, given[: passwords.MAX_LENGTH]):
        raise InvalidCredentials("The current password is wrong.", field=field)


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
    """PATCH /me: preferences and the marketing choice at once; a new email once verified (and
    only with the current password)."""
    user = get_user(user_id)
    unknown = sorted(set(body) - {"email", "password", "preferences", "marketing_opt_in"})
    if unknown:
        raise InvalidInput(f"{unknown[0]} cannot be changed here", field=unknown[0])
    if "password" in body and "email" not in body:
        raise InvalidInput("password is asked only to change the email; use POST /me/password "
                           "to change the password", field="password")
    if not set(body) - {"password"}:
        raise InvalidInput("send at least one of email, preferences, marketing_opt_in")
    actions = []
    changed = []
    new_email = None
    if "email" in body:
        new_email = normalise_email(body["email"])
    current_prefs = user.preferences.as_dict() if user.preferences else {}
    preferences = _preferences(body["preferences"], current_prefs) if "preferences" in body else None
    marketing = _bool(body, "marketing_opt_in", False)
    if new_email is not None and new_email != user.email:
        # Every field is checked before the password, and the password before the mail's count.
        check_password(user, body.get("password"), "password")
        take_mail(deps, new_email, client)
        actions.append(User.pending_email.set(new_email))
        changed.append("pending_email")
    if preferences is not None:
        actions.append(User.preferences.set(preferences))
        changed.append("preferences")
    if "marketing_opt_in" in body:
        actions += [
            User.marketing_opt_in.set(marketing),
            User.marketing_choice_at.set(utcnow()),
        ]
        changed.append("marketing_opt_in")
    if actions:
        user.update(actions=actions)
        audit.record(user_id, "profile_updated", changed, client)
    if new_email and new_email != user.email:
        # Sent even if another account holds the address: saying so here would tell a
        # stranger who has an account. The verification step refuses it instead.
        send_verification(user_id, new_email, deps)
    return profile(get_user(user_id))


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def profile(user: User) -> dict[str, object]:
    plan = catalogue.plan(user.plan)
    return {
        "id": user.user_id,
        "email": user.email,
        "email_verified": user.email_verified_at is not None,
        # The free signup credits, waiting for the address to be verified (or for a day whose
        # budget of them is not spent).
        "signup_credits_pending": bool(user.signup_grant_pending),
        "signup_credits": catalogue.SIGNUP_GRANT if user.signup_grant_pending else 0,
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
