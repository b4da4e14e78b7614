"""The account's email address: verifying it (the signup address, or a new one, which then
replaces the old), asking for the link again, and undoing a change from the old address."""

from __future__ import annotations

from pynamodb.exceptions import TransactWriteError

from chalicelib.errors import EmailTaken, LinkInvalid
from chalicelib.models import EmailClaim, User
from chalicelib.models.base import transaction, utcnow
from chalicelib.services import audit, notices, onetime, sessions, signup_credits
from chalicelib.services.accounts import (
    AccountDeps,
    get_user,
    linked_user,
    mail,
    profile,
    send_verification,
    take_mail,
)
from chalicelib.services.client_info import ClientInfo


def verify_email(token: object, deps: AccountDeps, client: ClientInfo) -> dict[str, object]:
    """Confirms an address: the signup address, or a new one, which then replaces the old."""
    record = onetime.consume(token, onetime.VERIFY_EMAIL)
    user = linked_user(record)
    now = utcnow()
    if record.email == user.email:
        user.update(actions=[User.email_verified_at.set(now)])
        audit.record(user.user_id, "email_verified", ["email_verified_at"], client)
        signup_credits.grant_if_budget_allows(user, deps.settings)
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
    restore = onetime.issue(onetime.RESTORE_EMAIL, user.user_id, old_email)
    mail(deps, old_email, notices.email_changed(new_email, deps.settings.app_base_url, restore))
    changed = get_user(user.user_id)
    signup_credits.grant_if_budget_allows(changed, deps.settings)
    return profile(get_user(user.user_id))


def resend_verification(user_id: str, deps: AccountDeps, client: ClientInfo) -> None:
    user = get_user(user_id)
    to = user.pending_email or (user.email if user.email_verified_at is None else None)
    if to is not None:
        take_mail(deps, to, client)
        send_verification(user_id, to, deps)


def restore_email(token: object, deps: AccountDeps, client: ClientInfo) -> dict[str, object]:
    """The old address's owner undoes an email change: the address comes back, every session
    and link ends, and the password (which whoever changed the address may know) stops working
    until a new one is chosen through the reset link mailed to the restored address."""
    record = onetime.consume(token, onetime.RESTORE_EMAIL)
    user = linked_user(record)
    old_email, current = record.email, user.email
    if old_email is None:
        raise LinkInvalid("This link is not valid any more. Ask for a new one.", field="token")
    revoke = [
        User.email.set(old_email),
        User.email_verified_at.set(utcnow()),
        User.pending_email.remove(),
        # "!" starts no argon2 hash: no password verifies until a new one is set.
        User.password_hash.set("!restored"),
        User.token_generation.add(1),
        User.ended_sessions.remove(),
    ]
    try:
        with transaction() as tx:
            if old_email != current:
                tx.save(EmailClaim(old_email, user_id=user.user_id),
                        condition=EmailClaim.email.does_not_exist())
                tx.delete(EmailClaim(current), condition=EmailClaim.user_id == user.user_id)
            tx.update(User(user.user_id), actions=revoke, condition=User.email == current)
    except TransactWriteError:
        raise EmailTaken("Another account now uses that address; write to contact@aisora2.com.",
                         field="token") from None
    sessions.end_all(user.user_id)
    onetime.revoke_all(user.user_id)
    audit.record(user.user_id, "email_restored", ["email", "password"], client)
    reset = onetime.issue(onetime.RESET_PASSWORD, user.user_id)
    mail(deps, old_email, notices.email_restored(deps.settings.app_base_url, reset))
    return {"status": "email_restored", "email": old_email}
