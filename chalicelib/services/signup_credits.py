"""The free credits of a new account: granted once its email is verified, within a daily budget.

A farm of throwaway accounts gets nothing from unverified addresses, and the budget (a global
count per UTC day, reserved atomically before the grant) caps what even verified ones can take.
The grant is keyed "signup" in the account's ledger, so it happens once per account ever,
whichever address is verified first and however often.
"""

from __future__ import annotations

import contextlib

from chalicelib.config import Settings
from chalicelib.errors import EmailUnverified, Throttled
from chalicelib.models import User
from chalicelib.services import catalogue, credits, throttling

REFERENCE = "signup"
_DAY = 24 * 3600
_BUDGET_SUBJECT = "all accounts"


def budget(settings: Settings) -> throttling.Limit:
    return throttling.Limit(
        "signup:grants", allowed=settings.signup_grants_per_day, window_seconds=_DAY,
        message="Today's free signup credits are all given out; yours are kept for you.",
    )


def grant(user: User, settings: Settings) -> bool:
    """Grants the credits to a verified account still waiting for them. False when there is
    nothing to grant; Throttled when today's budget is spent (the account keeps waiting)."""
    if not user.signup_grant_pending or user.email_verified_at is None:
        return False
    throttling.take(budget(settings), _BUDGET_SUBJECT)
    try:
        credits.apply(user.user_id, catalogue.SIGNUP_GRANT, "signup_grant", REFERENCE,
                      user_actions=lambda _: ([User.signup_grant_pending.remove()], None))
    except credits.AlreadyApplied:
        # Granted already (a parallel verification, or an account older than this rule).
        User(user.user_id).update(actions=[User.signup_grant_pending.remove()])
    return True


def grant_if_budget_allows(user: User, settings: Settings) -> None:
    """At verification: grant now, or leave it waiting for a day with budget left."""
    with contextlib.suppress(Throttled):
        grant(user, settings)


def ready_to_spend(user: User, settings: Settings) -> bool:
    """Before any credit moves for a video: the address must be verified, and credits still
    waiting for the budget are granted now if it allows (True: `user`'s balance is stale)."""
    if user.email_verified_at is None:
        raise EmailUnverified(
            "Confirm your email address first: open the link we emailed you, or ask for a new "
            "one with POST /auth/verify-email/resend. Your free credits are yours once it is "
            "confirmed; nothing was charged.",
            field="email",
        )
    try:
        return grant(user, settings)
    except Throttled:
        if int(user.credits) <= 0:
            raise
        return False
