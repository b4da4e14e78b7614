"""The words of every account email. Plain text; links carry their token in the fragment,
which browsers never send to a server, so no access log ever holds one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Notice:
    subject: str
    text: str


_SIGNATURE = "\n\n-- \nAISora2 · contact@aisora2.com\n"


def verify_email(base_url: str, token: str) -> Notice:
    return Notice(
        "Confirm your email address for AISora2",
        "Confirm this address for your AISora2 account by opening this link within 24 hours:\n\n"
        f"{base_url}/#/verify-email?token={token}\n\n"
        "If you did not sign up or change your email, ignore this message." + _SIGNATURE,
    )


def reset_password(base_url: str, token: str) -> Notice:
    return Notice(
        "Reset your AISora2 password",
        "Someone asked to reset the password of your AISora2 account. To choose a new one, open "
        "this link within 30 minutes. It works once.\n\n"
        f"{base_url}/#/reset-password?token={token}\n\n"
        "If it was not you, ignore this message: your password stays as it is." + _SIGNATURE,
    )


def password_changed() -> Notice:
    return Notice(
        "Your AISora2 password was changed",
        "The password of your AISora2 account was just changed, and every device was signed out.\n"
        "If this was not you, reset your password at once and write to contact@aisora2.com."
        + _SIGNATURE,
    )


def email_changed(new_email: str, base_url: str, token: str) -> Notice:
    name, _, domain = new_email.partition("@")
    masked = f"{name[:1]}***@{domain}"
    return Notice(
        "Your AISora2 email address was changed",
        f"The email address of your AISora2 account was changed to {masked}. This address will no "
        "longer receive mail about the account.\n\n"
        "If this was not you, open this link within 14 days: it puts this address back, signs "
        "every device out and mails you a link to choose a new password. It works once.\n\n"
        f"{base_url}/#/restore-email?token={token}" + _SIGNATURE,
    )


def email_restored(base_url: str, token: str) -> Notice:
    return Notice(
        "Your AISora2 email address is back",
        "Your AISora2 account uses this address again, and every device was signed out. Whoever "
        "changed the address may know your password, so it no longer works: choose a new one "
        "with this link within 30 minutes. It works once.\n\n"
        f"{base_url}/#/reset-password?token={token}\n\n"
        "If the link expires, ask for a new one on the sign-in page." + _SIGNATURE,
    )


def policy_changed(base_url: str, version: str, summary: str, effective: str) -> Notice:
    return Notice(
        "We updated the AISora2 privacy policy",
        f"Our privacy policy changes on {effective} (version {version}):\n\n{summary}\n\n"
        f"Read it at {base_url}/#/privacy . We will ask you to accept it when you next sign in.\n"
        "This is a service notice about your account, sent even if you opted out of marketing."
        + _SIGNATURE,
    )


# --- privacy requests, support and reports (fixed words: nothing a sender typed goes in) -----


def request_received(kind: str, received: datetime, due: datetime, reference: str) -> Notice:
    return Notice(
        "We received your privacy request",
        f"We received your {kind.replace('_', ' ')} request on {received:%Y-%m-%d} and will answer "
        f"by {due:%Y-%m-%d}. Its reference is {reference}." + _SIGNATURE,
    )


def support_received(due: datetime, reference: str) -> Notice:
    return Notice(
        "We received your message",
        f"Thank you for writing to AISora2. We will answer by {due:%A %Y-%m-%d}. "
        f"Your reference is {reference}." + _SIGNATURE,
    )


def child_reported() -> Notice:
    return Notice(
        "A report about your AISora2 account",
        "We received a report that your AISora2 account may belong to a child under 13. Nothing "
        "has changed on your account: a person on our team will review the report.\n"
        "If you are 13 or older, you need do nothing; you may write to contact@aisora2.com to "
        "tell us so. We do not say who sent a report." + _SIGNATURE,
    )


def account_suspended() -> Notice:
    return Notice(
        "Your AISora2 account is suspended",
        "While we review a report that your account may belong to a child under 13, your account "
        "is suspended: every device was signed out and you cannot sign in or make videos. Nothing "
        "has been deleted.\n"
        "If you are 13 or older, write to contact@aisora2.com and we will reinstate it." + _SIGNATURE,
    )


def account_reinstated() -> Notice:
    return Notice(
        "Your AISora2 account is available again",
        "We reviewed the report about your account and reinstated it: you can sign in again, "
        "and everything in it is as it was." + _SIGNATURE,
    )


def account_closed_on_review(erasure_due_by: datetime) -> Notice:
    return Notice(
        "Your AISora2 account is closed",
        "We reviewed a report that your account belongs to a child under 13 and closed it. Any "
        "paid subscription is cancelled, and the account's data will be erased by "
        f"{erasure_due_by:%Y-%m-%d %H:%M} UTC." + _SIGNATURE,
    )
