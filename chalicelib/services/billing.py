"""Buying credit packs and plans through Stripe or Creem, and the effects of their events.

The webhooks (payment_webhooks) verify each event and check it against our records
(payment_proof) before calling an effect here. Each event's effect and the row recording the
event are one DynamoDB transaction, so a replayed event changes nothing; subscription events
carry the provider's time and an older one never overrides a newer one. With no provider key
configured, a local checkout page (local_checkout) stands in for the provider's.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pynamodb.exceptions import DoesNotExist, PutError, TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib import observability
from chalicelib.adapters.mail import Mailer
from chalicelib.adapters.storage import MediaStore
from chalicelib.config import Settings
from chalicelib.errors import InvalidInput
from chalicelib.models import BillingEvent, LedgerEntry, Payment, Subscription, User
from chalicelib.models.base import transaction, utcnow
from chalicelib.services import accounts, catalogue, credits, retention
from chalicelib.services import payment_proof as proof

log = logging.getLogger(__name__)

PROVIDERS = ("stripe", "creem")
EVENT_MEMORY = timedelta(days=400)
_ACTIVE = ("active", "trialing", "past_due")


@dataclass(frozen=True)
class Product:
    id: str
    name: str
    price_cents: int
    currency: str
    credits: int
    plan_id: str | None  # set for a subscription

    @classmethod
    def find(cls, product_id: object) -> Product:
        if isinstance(product_id, str) and product_id in catalogue.CREDIT_PACKS:
            pack = catalogue.CREDIT_PACKS[product_id]
            return cls(pack.id, pack.name, pack.price_cents, pack.currency, pack.credits, None)
        if isinstance(product_id, str) and product_id in catalogue.PLANS and product_id != "free":
            plan = catalogue.PLANS[product_id]
            return cls(plan.id, f"{plan.name} plan", plan.price_cents, plan.currency,
                       plan.monthly_credits, plan.id)
        choices = [*catalogue.CREDIT_PACKS, *(p for p in catalogue.PLANS if p != "free")]
        raise InvalidInput(f"product_id must be one of {', '.join(choices)}", field="product_id")


@dataclass(frozen=True)
class BillingDeps:
    settings: Settings
    mailer: Mailer
    store: MediaStore
    stripe: Any | None  # StripePayments, when STRIPE_API_KEY is set
    creem: Any | None  # CreemPayments, when CREEM_API_KEY is set


# --- checkout -------------------------------------------------------------------------------


def checkout(user_id: str, body: dict[str, Any], deps: BillingDeps) -> dict[str, str]:
    product = Product.find(body.get("product_id"))
    provider = body.get("provider", "stripe")
    if provider not in PROVIDERS:
        raise InvalidInput("provider must be stripe or creem", field="provider")
    user = accounts.get_user(user_id)
    if product.plan_id and user.subscription_status in _ACTIVE:
        raise InvalidInput("You already have a subscription: change or cancel it under Manage.",
                           field="product_id")
    base = deps.settings.app_base_url
    success, cancel = f"{base}/#/billing?checkout=success", f"{base}/#/billing?checkout=cancelled"
    # Deterministic per user, product and ten minutes: a double click opens one session.
    window = int(time.time() // 600)
    request_id = hashlib.sha256(f"{user_id}:{product.id}:{provider}:{window}".encode()).hexdigest()[:32]
    if provider == "stripe" and deps.stripe is not None:
        checkout_id, url = deps.stripe.open_checkout(
            user_id=user_id, email=user.email, product_id=product.id, name=product.name,
            price_cents=product.price_cents, currency=product.currency,
            subscription=product.plan_id is not None, success_url=success, cancel_url=cancel,
            idempotency_key=f"checkout-{request_id}",
        )
    elif provider == "creem" and deps.creem is not None:
        creem_product = deps.settings.creem_products.get(product.id)
        if creem_product is None:
            raise InvalidInput(f"{product.id} is not sold through Creem", field="product_id")
        checkout_id, url = deps.creem.open_checkout(
            creem_product_id=creem_product, request_id=request_id, email=user.email,
            metadata={"user_id": user_id, "product_id": product.id}, success_url=success,
        )
    elif deps.settings.local_checkout:
        from chalicelib.services import local_checkout  # which hands its events back to this module

        checkout_id, url = local_checkout.open_session(user_id, product, provider, success, cancel, base)
    else:
        raise InvalidInput(f"Payments through {provider.title()} are not available; choose another way "
                           "to pay.", field="provider")
    # What its completion will be checked against: this account, this product, this price.
    proof.record_checkout(provider, checkout_id, user_id, product.id, product.price_cents, product.currency)
    return {"checkout_url": url, "provider": provider}


def portal(user_id: str, deps: BillingDeps) -> dict[str, str]:
    user = accounts.get_user(user_id)
    if deps.stripe is None or not user.stripe_customer_id:
        raise InvalidInput("There is no Stripe subscription to manage on this account.")
    return {"url": deps.stripe.portal_url(user.stripe_customer_id, f"{deps.settings.app_base_url}/#/billing")}


def cancel_subscription(user: User, deps: BillingDeps) -> None:
    """At account closure: stop future charges at the provider."""
    if not user.subscription_id or user.subscription_status not in _ACTIVE:
        return
    _cancel_at(str(user.subscription_provider), user.subscription_id, deps)


def _cancel_at(provider: str, subscription_id: str, deps: BillingDeps) -> None:
    """Stops a subscription's charges at its provider (the local checkout has none to stop)."""
    if provider == "stripe" and deps.stripe is not None:
        deps.stripe.cancel_subscription(subscription_id)
    elif provider == "creem" and deps.creem is not None:
        deps.creem.cancel_subscription(subscription_id)


# --- effects, each at most once --------------------------------------------------------------


def event_row(key: str, kind: str) -> BillingEvent:
    observability.bind(event_type=kind, event_id=key)
    now = utcnow()
    return BillingEvent(key, type=kind, processed_at=now, expires_at=now + EVENT_MEMORY)


def _once(event: BillingEvent) -> Callable[[TransactWrite], None]:
    def write(tx: TransactWrite) -> None:
        tx.save(event, condition=BillingEvent.event_key.does_not_exist())

    return write


def record_only(event: BillingEvent) -> str:
    try:
        event.save(condition=BillingEvent.event_key.does_not_exist())
    except PutError:
        return "duplicate"
    return "recorded"


def grant_purchase(event: BillingEvent, provider: str, payment_ref: str, user_id: str,
                   product: Product, amount_cents: int, currency: str) -> str:
    payment = Payment(f"{provider}:{payment_ref}", user_id=user_id, product_id=product.id,
                      credits=product.credits, amount_cents=amount_cents, currency=currency.lower())

    def writes(tx: TransactWrite) -> None:
        _once(event)(tx)
        tx.save(payment, condition=Payment.payment_key.does_not_exist())

    try:
        credits.apply(user_id, product.credits, "purchase", f"{provider}:payment:{payment_ref}", writes)
    except credits.AlreadyApplied:
        return "duplicate"
    return "granted"


def grant_period(event: BillingEvent, provider: str, period_ref: str, user_id: str, product: Product,
                 payment_ref: str | None, amount_cents: int, currency: str) -> str:
    def writes(tx: TransactWrite) -> None:
        _once(event)(tx)
        if payment_ref:
            tx.save(Payment(f"{provider}:{payment_ref}", user_id=user_id, product_id=product.id,
                            credits=product.credits, amount_cents=amount_cents,
                            currency=currency.lower()),
                    condition=Payment.payment_key.does_not_exist())

    try:
        credits.apply(user_id, product.credits, "subscription_grant", f"{provider}:period:{period_ref}",
                      writes)
    except credits.AlreadyApplied:
        return "duplicate"
    return "granted"


def set_subscription(event: BillingEvent, provider: str, user_id: str, subscription_id: str,
                     status: str, plan_id: str, event_at: int, deps: BillingDeps,
                     customer_id: str | None = None) -> str:
    """Applies a subscription's state, unless a newer event already did. Only ever changes the
    current subscription (or sets the first); a purchase may replace it (`purchase`)."""
    try:
        user = User.get(user_id, consistent_read=True)
    except DoesNotExist:
        return record_only(event)
    newer_or_first = User.subscription_event_at.does_not_exist() | (User.subscription_event_at <= event_at)
    # A late event of an older, replaced subscription must not touch the current one.
    same_or_none = User.subscription_id.does_not_exist() | (User.subscription_id == subscription_id)
    if status not in _ACTIVE:
        same_or_none = User.subscription_id == subscription_id
    outcome = _write_subscription(event, user, provider, subscription_id, status, plan_id, event_at,
                                  newer_or_first & same_or_none, deps, customer_id)
    return outcome or "stale " + record_only(event)


def purchase(event: BillingEvent, provider: str, user_id: str, subscription_id: str, status: str,
             plan_id: str, event_at: int, deps: BillingDeps, customer_id: str | None = None) -> str:
    """A plan's checkout completed: the subscription bought last is the plan. One bought while
    another was current (two checkouts opened before either was paid) replaces it, and the one
    that loses, whichever arrives first, is cancelled at its provider so that it stops charging.
    After a cancellation, a new purchase simply becomes the plan."""
    for _ in range(5):
        try:
            user = User.get(user_id, consistent_read=True)
        except DoesNotExist:
            return record_only(event)
        current = user.subscription_id
        if current == subscription_id:
            return set_subscription(event, provider, user_id, subscription_id, status, plan_id, event_at,
                                    deps, customer_id)
        current_active = current is not None and user.subscription_status in _ACTIVE
        if current_active and int(user.subscription_started_at or 0) > event_at:
            # The current one was bought later: this one lost, and must not go on charging.
            outcome = "superseded " + record_only(event)
            _cancel_lost(provider, subscription_id, user_id, deps)
            return outcome
        # Holds only if no other purchase or event changed the subscription since the read.
        unchanged = (User.subscription_id.does_not_exist() if current is None
                     else User.subscription_id == current)
        outcome = _write_subscription(event, user, provider, subscription_id, status, plan_id, event_at,
                                      unchanged, deps, customer_id)
        if outcome is None:
            continue  # changed meanwhile: decide again on what is there now
        if current_active:
            _cancel_lost(str(user.subscription_provider), str(current), user_id, deps)
        return outcome
    return "stale " + record_only(event)


def _write_subscription(event: BillingEvent, user: User, provider: str, subscription_id: str, status: str,
                        plan_id: str, event_at: int, condition: Any, deps: BillingDeps,
                        customer_id: str | None) -> str | None:
    """The subscription's state on the account, with the event recorded, if `condition` holds:
    the new plan ("plan basic"), "duplicate" for an event already applied, None otherwise."""
    new_plan = plan_id if status in _ACTIVE else "free"
    actions = [
        User.plan.set(new_plan),
        User.subscription_provider.set(provider),
        User.subscription_id.set(subscription_id),
        User.subscription_status.set(status),
        User.subscription_event_at.set(event_at),
    ]
    if user.subscription_id != subscription_id:
        actions.append(User.subscription_started_at.set(event_at))
    if customer_id:
        actions.append(User.stripe_customer_id.set(customer_id))
    try:
        with transaction() as tx:
            _once(event)(tx)
            tx.update(User(user.user_id), actions=actions, condition=condition)
    except TransactWriteError as exc:
        codes = [r.code if r else None for r in (exc.cancellation_reasons or [])]
        if codes and codes[0] == "ConditionalCheckFailed":
            return "duplicate"
        return None
    old_days = catalogue.plan(user.plan).retention_days
    if catalogue.plan(new_plan).retention_days > old_days:
        retention.extend_existing(user.user_id, new_plan, deps.store)
    return f"plan {new_plan}"


def _cancel_lost(provider: str, subscription_id: str, owner: str, deps: BillingDeps) -> None:
    """Cancels a subscription that lost to a newer one of the same account, never another's."""
    try:
        recorded = Subscription.get(f"{provider}:{subscription_id}", consistent_read=True)
    except DoesNotExist:
        recorded = None  # bought before checkouts were recorded: the account's row named it
    if recorded is not None and recorded.user_id != owner:
        log.error("did not cancel %s at %s: it belongs to another account", subscription_id, provider)
        observability.metric("WebhookMismatch", 1, "Count", provider=provider, reason="cancel_other")
        return
    try:
        _cancel_at(provider, subscription_id, deps)
    except Exception:
        # The plan stands; the other subscription would go on charging: an operator cancels it.
        log.exception("a replaced subscription was not cancelled: cancel %s at %s by hand",
                      subscription_id, provider)
        observability.metric("ReplacedSubscriptionsLeftRunning", 1, "Count", provider=provider)


def clawback(event: BillingEvent, provider: str, payment_ref: str, refunded_cents: int | None,
             currency: object) -> str:
    """Takes back the refunded share (None: all) of a payment we recorded, measured against what
    we recorded it paid; a refund of anything else takes nothing."""
    try:
        payment = Payment.get(f"{provider}:{payment_ref}", consistent_read=True)
    except DoesNotExist:
        return record_only(event)  # not a payment that granted credits
    if currency is not None and str(currency).lower() != payment.currency:
        raise proof.Mismatch("currency", f"refunded in {str(currency)[:8]!r}, paid in {payment.currency!r}")
    paid = int(payment.amount_cents)
    fraction = 1.0 if refunded_cents is None or not paid else refunded_cents / paid
    owed = min(int(payment.credits), round(int(payment.credits) * fraction))
    amount = owed - int(payment.clawed_back)
    if amount <= 0:
        return record_only(event)

    def writes(tx: TransactWrite) -> None:
        _once(event)(tx)
        tx.update(Payment(payment.payment_key), actions=[Payment.clawed_back.set(owed)],
                  condition=Payment.clawed_back == payment.clawed_back)

    try:
        # A refund or dispute takes back credits even if they were spent: the balance may go
        # below zero, and new videos wait until it is positive again.
        credits.apply(payment.user_id, -amount, "clawback", f"{event.event_key}:clawback", writes,
                      allow_negative=True)
    except credits.AlreadyApplied:
        return "duplicate"
    return f"clawed back {amount}"


# --- the daily check ----------------------------------------------------------------------------


def reconcile_balances() -> list[dict[str, Any]]:
    """Every balance against its ledger: the sum of the rows and the last row's balance_after."""
    differences = []
    for user in User.scan(attributes_to_get=["user_id", "credits"]):
        rows = list(LedgerEntry.by_time.query(user.user_id))
        total = sum(int(r.amount) for r in rows)
        last = rows[-1].balance_after if rows else 0
        if total != int(user.credits) or int(last) != int(user.credits):
            differences.append({"user_id": user.user_id, "balance": int(user.credits),
                                "ledger_sum": total, "last_balance_after": int(last)})
    if differences:
        log.error("balance differs from the ledger for %d account(s)", len(differences))
    return differences
