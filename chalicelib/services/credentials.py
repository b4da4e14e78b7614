"""Credentials: signing in, and resetting or changing the password (which ends everything
issued before it: sessions, access tokens, a pending email change, emailed links)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from chalicelib.errors import InvalidCredentials, InvalidInput
from chalicelib.models import User
from chalicelib.models.base import utcnow
from chalicelib.services import audit, notices, onetime, passwords, policy, sessions, throttling
from chalicelib.services.accounts import (
    AccountDeps,
    check_password,
    get_user,
    linked_user,
    mail,
    normalise_email,
    per_address,
    user_by_email,
)
from chalicelib.services.client_info import ClientInfo
from chalicelib.services.throttling import Limit

RESET_RECIPIENT = Limit("reset:recipient", allowed=3, window_seconds=3600,
                        message="Too many reset requests for this address.")


def login(body: dict[str, Any], deps: AccountDeps, client: ClientInfo) -> sessions.TokenPair:
    """Same answer, and about the same work, for an unknown email and a wrong password."""
    password = body.get("password")
    if not isinstance(password, str) or not password:
        raise InvalidInput("password is required", field="password")
    email = normalise_email(body.get("email"))
    throttling.login_attempt(email, client.ip)  # reserved before any hash is computed
    user = user_by_email(email)
    if len(password) > passwords.MAX_LENGTH or user is None or user.status != "active":
        passwords.verify_decoy(password[: passwords.MAX_LENGTH])
        raise InvalidCredentials("The email or password is wrong.")
    if not passwords.verify(user.password_hash, password):
        raise InvalidCredentials("The email or password is wrong.")
    throttling.login_succeeded(email, client.ip)
    if passwords.needs_rehash(user.password_hash):
        user.update(actions=[User.password_hash.set(passwords.hash_password(password))])
    pair = sessions.start(user.user_id, deps.settings, client, int(user.token_generation or 0))
    return replace(pair, policy_acceptance_required=policy.needs_acceptance(user.policy_version))


def request_password_reset(body: dict[str, Any], deps: AccountDeps, client: ClientInfo) -> None:
    """Mails a reset link if the account exists. The answer is the same either way."""
    email = normalise_email(body.get("email"))
    # Per recipient and per client address, before anything is looked up: an inbox cannot be
    # flooded, and a known address costs no more time than an unknown one until the limit.
    from_client = per_address("reset:address", deps.settings.mails_per_address_hour,
                              "Too many reset requests from this network.")
    throttling.take_each([(RESET_RECIPIENT, email), (from_client, client.ip)])
    user = user_by_email(email)
    if user is None or user.status != "active":
        return
    token = onetime.issue(onetime.RESET_PASSWORD, user.user_id)
    mail(deps, user.email, notices.reset_password(deps.settings.app_base_url, token))


def _set_password(user: User, password: str, action: str, deps: AccountDeps, client: ClientInfo) -> int:
    """Sets the password and ends everything issued before: sessions, access tokens (the token
    generation goes up), a pending email change and every emailed link but those that restore
    an old address. Returns the new token generation."""
    user.update(
        actions=[
            User.password_hash.set(passwords.hash_password(password)),
            User.password_changed_at.set(utcnow()),
            User.token_generation.add(1),
            User.pending_email.remove(),
            User.ended_sessions.remove(),  # the new generation refuses those tokens anyway
        ]
    )
    sessions.end_all(user.user_id)
    onetime.revoke_all(user.user_id, keep=onetime.RESTORE_EMAIL)
    audit.record(user.user_id, action, ["password"], client)
    mail(deps, user.email, notices.password_changed())
    return int(user.token_generation)


def confirm_password_reset(
    body: dict[str, Any], deps: AccountDeps, client: ClientInfo
) -> sessions.TokenPair:
    """Sets the new password, signs out every device, and signs this one in: a reset is how
    the owner gets in even while sign-in is throttled for the account."""
    # The new password is checked before the link is used up, so a weak choice can be corrected.
    new_password = passwords.check(body.get("password"), "password", [])
    record = onetime.consume(body.get("token"), onetime.RESET_PASSWORD)
    user = linked_user(record)
    generation = _set_password(user, new_password, "password_reset", deps, client)
    return sessions.start(user.user_id, deps.settings, client, generation)


def change_password(
    user_id: str, body: dict[str, Any], deps: AccountDeps, client: ClientInfo
) -> sessions.TokenPair:
    """Needs the current password; ends every session, then starts this one afresh."""
    user = get_user(user_id)
    check_password(user, body.get("current_password"), "current_password")
    new_password = passwords.check(body.get("new_password"), "new_password", [user.email])
    generation = _set_password(user, new_password, "password_changed", deps, client)
    return sessions.start(user_id, deps.settings, client, generation)
