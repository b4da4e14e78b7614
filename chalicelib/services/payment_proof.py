"""What a signed payment event proves, and no more.

A valid signature says the provider sent the event; it does not make the event's claims true for
us. Before an event grants credits, sets a plan or cancels anything, its claims are held against
what we recorded ourselves when the person opened the checkout (account, product, price), the
subscriptions those checkouts started, and the catalogue: the amount and currency paid, the
product, the account, and whether it is real money or a test. A claim that does not hold is a
`Mismatch`: the event is recorded with the reason, logged without personal data, counted as the
`WebhookMismatch` metric (an alarm watches it), and has no effect. The webhook still answers
200: the provider would redeliver an error for days, and every delivery carries the same claims.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from pynamodb.exceptions import DoesNotExist, PutError

from chalicelib import observability
from chalicelib.config import Settings
from chalicelib.errors import Busy
from chalicelib.models import BillingEvent, Checkout, Subscription, User
from chalicelib.models.base import utcnow
from chalicelib.services import catalogue

log = logging.getLogger(__name__)

# A checkout is matched for this long: past Stripe's 24 h session life, its async payment
# methods and its 3 days of redelivery.
CHECKOUT_MEMORY = timedelta(days=30)
# A renewal may arrive before the checkout that started its subscription (providers promise no
# order): until then it is answered 503 so that the provider delivers it again. Past this age
# it is no longer the checkout's race but a subscription we never sold.
LINK_WAIT_SECONDS = 24 * 3600


class Mismatch(Exception):
    """Raised when a signed payment event claims what our records or the catalogue do not back.
    `reason` is a short code for metrics and alarms; `detail` names figures, never a person."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


# --- what we record --------------------------------------------------------------------------


def record_checkout(provider: str, checkout_id: str, user_id: str, product_id: str, amount_cents: int,
                    currency: str) -> None:
    """A checkout we opened (POST /billing/checkout), so that its completion can be checked."""
    now = utcnow()
    Checkout(f"{provider}:{checkout_id}", user_id=user_id, product_id=product_id,
             amount_cents=amount_cents, currency=currency.lower(), created_at=now,
             expires_at=now + CHECKOUT_MEMORY).save()


def link_subscription(provider: str, subscription_id: object, checkout: Checkout) -> None:
    """Records that a checkout of ours started this subscription, for its account."""
    if not isinstance(subscription_id, str) or not subscription_id:
        raise Mismatch("subscription", "a plan's checkout completed without a subscription")
    row = Subscription(f"{provider}:{subscription_id}", user_id=checkout.user_id,
                       product_id=checkout.product_id, amount_cents=checkout.amount_cents,
                       currency=checkout.currency, checkout_key=checkout.checkout_key)
    try:
        row.save(condition=Subscription.subscription_key.does_not_exist()
                 | (Subscription.user_id == checkout.user_id))
    except PutError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            raise Mismatch("subscription_owner", "the subscription is recorded for another account") from None
        raise


# --- what an event must match ----------------------------------------------------------------


def opened_checkout(provider: str, checkout_id: object) -> Checkout:
    """The checkout we opened under this provider's id; a completion of any other is a mismatch."""
    if not isinstance(checkout_id, str) or not checkout_id:
        raise Mismatch("unknown_checkout", "the event names no checkout")
    try:
        return Checkout.get(f"{provider}:{checkout_id[:200]}", consistent_read=True)
    except DoesNotExist:
        raise Mismatch("unknown_checkout", f"no checkout {checkout_id[:80]} was opened here") from None


def owned_subscription(provider: str, subscription_id: object, user_id: object,
                       event_at: int) -> Subscription | None:
    """The subscription's record when it belongs to the event's account. None when no checkout
    of ours has linked it yet and the event is young (its checkout may still be on the way);
    a mismatch when it belongs to someone else or is not one we sold."""
    if not isinstance(subscription_id, str) or not subscription_id:
        raise Mismatch("unknown_subscription", "the event names no subscription")
    key = f"{provider}:{subscription_id[:200]}"
    try:
        row = Subscription.get(key, consistent_read=True)
    except DoesNotExist:
        row = _linked_before_records(provider, subscription_id, user_id)
    if row is None:
        if event_at >= utcnow().timestamp() - LINK_WAIT_SECONDS:
            return None
        raise Mismatch("unknown_subscription", f"no checkout of ours started {subscription_id[:80]}")
    same_account(user_id, row.user_id)
    return row


def _linked_before_records(provider: str, subscription_id: str, user_id: object) -> Subscription | None:
    """A subscription bought before checkouts were recorded is the account's own if its row
    names it as the current one (only a completed checkout ever wrote it): recorded now."""
    if not isinstance(user_id, str) or not user_id:
        return None
    try:
        user = User.get(user_id, consistent_read=True)
    except DoesNotExist:
        return None
    if user.subscription_id != subscription_id or user.subscription_provider != provider:
        return None
    plan = catalogue.plan(user.plan)
    row = Subscription(f"{provider}:{subscription_id}", user_id=user_id, product_id=plan.id,
                       amount_cents=plan.price_cents, currency=plan.currency,
                       checkout_key="before-records")
    row.save()
    return row


def waiting_for_checkout() -> Busy:
    return Busy("This subscription's checkout has not arrived yet; deliver the event again later.")


def same_account(claimed: object, recorded: str) -> None:
    if claimed != recorded:
        # Neither id goes into the record or the log: both name a person's account.
        raise Mismatch("account", "the event's account is not the one the checkout was opened for")


def same_product(claimed: object, recorded: str) -> None:
    if claimed != recorded:
        raise Mismatch("product", f"{str(claimed)[:40]!r} where the checkout sold {recorded!r}")


def paid_the_price(amount: object, currency: object, price_cents: int, price_currency: str) -> None:
    """The price we sold at (the catalogue's when the checkout was opened), exactly. We create
    no coupons, discounts or promotion codes (and the customer portal switches no prices), so
    any other amount is not a sale of ours."""
    if not isinstance(currency, str) or currency.lower() != price_currency.lower():
        raise Mismatch("currency", f"paid in {str(currency)[:8]!r}, priced in {price_currency!r}")
    if isinstance(amount, bool) or not isinstance(amount, int) or amount != price_cents:
        raise Mismatch("amount", f"{str(amount)[:16]} paid for a price of {price_cents}")


def live_as_the_stage(live: bool, settings: Settings) -> None:
    """Test events never grant on a live stage, and live ones never on a test stage."""
    if live != settings.payments_livemode:
        got, want = ("live", "test") if live else ("test", "live")
        raise Mismatch("livemode", f"a {got} event on a {want} stage")


# --- a mismatch ----------------------------------------------------------------------------------


def record(event: BillingEvent, provider: str, mismatch: Mismatch) -> str:
    """Records the event with why it did not match, once, logs and counts it; acts on nothing.
    Operators find these rows by their `mismatch` attribute (docs/operations.md)."""
    event.mismatch = mismatch.reason
    event.mismatch_detail = mismatch.detail[:300]
    try:
        event.save(condition=BillingEvent.event_key.does_not_exist())
    except PutError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            return "duplicate"
        raise
    observability.bind(mismatch=mismatch.reason)
    log.warning("a signed %s event did not match our records and was not acted on: %s",
                provider, mismatch.detail)
    observability.metric("WebhookMismatch", 1, "Count", provider=provider, reason=mismatch.reason)
    return f"mismatch {mismatch.reason}"
