"""Stripe's and Creem's webhooks: each event verified on its raw body, then acted on only as far
as our own records of the checkout back it (payment_proof), each effect at most once (billing).
A mismatch is recorded and alarmed, and answered 200: it grants and cancels nothing."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from typing import Any

from chalicelib import observability
from chalicelib.config import webhook_secret
from chalicelib.errors import WebhookRejected
from chalicelib.models import BillingEvent
from chalicelib.services import accounts, billing
from chalicelib.services import payment_proof as proof

log = logging.getLogger(__name__)

STRIPE_TOLERANCE = 300


def _whole_cents(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


# --- Stripe -------------------------------------------------------------------------------------


def _verify_stripe(raw: bytes, header: str | None) -> dict[str, Any]:
    import stripe  # the SDK only where a Stripe webhook is verified

    try:
        stripe.WebhookSignature.verify_header(
            raw, header, webhook_secret("STRIPE_WEBHOOK_SECRET"), tolerance=STRIPE_TOLERANCE
        )
    except stripe.SignatureVerificationError:
        raise WebhookRejected("The Stripe signature does not match this body.") from None
    except UnicodeDecodeError:  # the SDK decodes the body before it checks anything
        raise WebhookRejected("The Stripe event is not UTF-8 text.") from None
    stamp = int(dict(p.split("=", 1) for p in (header or "").split(",") if "=" in p)["t"])
    # The SDK refuses old timestamps only; one far in the future is as suspect.
    if stamp > time.time() + STRIPE_TOLERANCE:
        raise WebhookRejected("The Stripe signature's timestamp is in the future.")
    try:
        event = json.loads(raw)
        assert isinstance(event, dict) and isinstance(event["id"], str)
        assert isinstance(event["data"]["object"], dict)
    except (ValueError, KeyError, TypeError, AssertionError, RecursionError):
        raise WebhookRejected("The Stripe event is not well formed.") from None
    return event


def _subscription_metadata(invoice: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
    details = (invoice.get("parent") or {}).get("subscription_details") or invoice.get(
        "subscription_details") or {}
    return details.get("subscription") or invoice.get("subscription"), details.get("metadata") or {}


@observability.counted("WebhookEvents", provider="stripe")
def handle_stripe_webhook(raw: bytes, header: str | None, deps: billing.BillingDeps) -> str:
    """Verifies, then acts on, one Stripe event as far as our records back it (payment_proof).
    Returns what it did, for the logs."""
    event = _verify_stripe(raw, header)
    row = billing.event_row(f"stripe:{event['id']}", event["type"])
    try:
        proof.live_as_the_stage(event.get("livemode") is True, deps.settings)
        return _on_stripe_event(event, row, deps)
    except proof.Mismatch as mismatch:
        return proof.record(row, "stripe", mismatch)


def _on_stripe_event(event: dict[str, Any], row: BillingEvent, deps: billing.BillingDeps) -> str:
    kind, obj, created = event["type"], event["data"]["object"], int(event.get("created", 0))
    metadata = obj.get("metadata") or {}
    if kind in ("checkout.session.completed", "checkout.session.async_payment_succeeded"):
        if obj.get("payment_status") != "paid":
            return billing.record_only(row)  # async methods: wait for async_payment_succeeded
        opened = proof.opened_checkout("stripe", obj.get("id"))
        product = billing.Product.find(opened.product_id)
        proof.same_account(metadata.get("user_id") or obj.get("client_reference_id"), opened.user_id)
        proof.same_product(metadata.get("product_id"), product.id)
        proof.paid_the_price(obj.get("amount_total"), obj.get("currency"), int(opened.amount_cents),
                             opened.currency)
        mode = "subscription" if product.plan_id else "payment"
        if obj.get("mode") != mode:
            raise proof.Mismatch("mode", f"a {str(obj.get('mode'))[:16]!r} checkout sold {product.id}")
        if product.plan_id:
            proof.link_subscription("stripe", obj.get("subscription"), opened)
            return billing.purchase(row, "stripe", opened.user_id, obj["subscription"], "active",
                                    product.id, created, deps, customer_id=obj.get("customer"))
        return billing.grant_purchase(row, "stripe", obj.get("payment_intent") or obj["id"],
                                      opened.user_id, product, int(opened.amount_cents), opened.currency)
    if kind == "invoice.paid":
        subscription_id, meta = _subscription_metadata(obj)
        if not subscription_id or "user_id" not in meta:
            return billing.record_only(row)
        owned = proof.owned_subscription("stripe", subscription_id, meta["user_id"], created)
        if owned is None:
            raise proof.waiting_for_checkout()
        product = billing.Product.find(owned.product_id)
        proof.same_product(meta.get("product_id"), product.id)
        proof.paid_the_price(obj.get("amount_paid"), obj.get("currency"), int(owned.amount_cents),
                             owned.currency)
        return billing.grant_period(row, "stripe", obj["id"], owned.user_id, product,
                                    obj.get("payment_intent"), int(owned.amount_cents), owned.currency)
    if kind in ("customer.subscription.updated", "customer.subscription.created",
                "customer.subscription.deleted"):
        if "user_id" not in metadata:
            return billing.record_only(row)
        owned = proof.owned_subscription("stripe", obj.get("id"), metadata["user_id"], created)
        if owned is None:
            # Its checkout, still on the way, sets the subscription when it arrives.
            return "not yet linked " + billing.record_only(row)
        proof.same_product(metadata.get("product_id"), owned.product_id)
        status = "canceled" if kind.endswith("deleted") else obj.get("status", "active")
        return billing.set_subscription(row, "stripe", owned.user_id, obj["id"], status,
                                        owned.product_id, created, deps)
    if kind == "invoice.payment_failed":
        subscription_id, meta = _subscription_metadata(obj)
        if "user_id" in meta and proof.owned_subscription("stripe", subscription_id, meta["user_id"],
                                                          created):
            _notify_payment_failed(meta["user_id"], deps)
        return billing.record_only(row)
    if kind == "charge.refunded":
        return billing.clawback(row, "stripe", obj.get("payment_intent") or "",
                                _whole_cents(obj.get("amount_refunded")) or 0, obj.get("currency"))
    if kind == "charge.dispute.created":
        return billing.clawback(row, "stripe", obj.get("payment_intent") or "", None, obj.get("currency"))
    if kind == "checkout.session.async_payment_failed":
        opened = proof.opened_checkout("stripe", obj.get("id"))
        proof.same_account(metadata.get("user_id") or obj.get("client_reference_id"), opened.user_id)
        _notify_payment_failed(opened.user_id, deps)
        return billing.record_only(row)
    return "ignored"


def _notify_payment_failed(user_id: str, deps: billing.BillingDeps) -> None:
    try:
        user = accounts.get_user(user_id)
        deps.mailer.send(user.email, "Your AISora2 payment did not go through",
                         "Your last payment failed, so no credits were added. Update your payment "
                         f"method at {deps.settings.app_base_url}/#/billing .\n\n-- \nAISora2")
    except Exception as exc:
        # The class only: a mail service's error text can name the address.
        log.error("could not tell a user about a failed payment: %s", type(exc).__name__)


# --- Creem --------------------------------------------------------------------------------------


@observability.counted("WebhookEvents", provider="creem")
def handle_creem_webhook(raw: bytes, signature: str | None, deps: billing.BillingDeps) -> str:
    """Verifies (hex HMAC-SHA256 of the raw body, in constant time), then acts on, one Creem
    event as far as our records back it. Creem signs no timestamp: the recorded event id is the
    replay defence."""
    expected = hmac.new(webhook_secret("CREEM_WEBHOOK_SECRET").encode(), raw, hashlib.sha256).hexdigest()
    if not signature or not hmac.compare_digest(expected, signature.strip().lower()):
        raise WebhookRejected("The Creem signature does not match this body.")
    try:
        event = json.loads(raw)
        kind, obj = event["eventType"], event["object"]
        assert isinstance(event["id"], str) and isinstance(obj, dict)
    except (ValueError, KeyError, TypeError, AssertionError, RecursionError):
        raise WebhookRejected("The Creem event is not well formed.") from None
    row = billing.event_row(f"creem:{event['id']}", kind)
    try:
        # Creem marks each object with its mode: "prod" for real money, else a test mode.
        proof.live_as_the_stage(obj.get("mode") == "prod", deps.settings)
        return _on_creem_event(event, row, deps)
    except proof.Mismatch as mismatch:
        return proof.record(row, "creem", mismatch)


def _creem_product_id(obj: dict[str, Any]) -> object:
    product = obj.get("product")
    return product.get("id") if isinstance(product, dict) else product


def _same_creem_product(claimed: object, product: billing.Product, deps: billing.BillingDeps) -> None:
    """Creem's product id is the one configured for ours (CREEM_PRODUCTS), where one is."""
    configured = deps.settings.creem_products.get(product.id)
    if configured is not None and claimed != configured:
        raise proof.Mismatch("product", f"Creem product {str(claimed)[:40]!r} is not {product.id}'s")


def _on_creem_event(event: dict[str, Any], row: BillingEvent, deps: billing.BillingDeps) -> str:
    kind, obj = event["eventType"], event["object"]
    created = int(event.get("created_at") or 0) // 1000
    metadata = obj.get("metadata") or {}
    if kind == "checkout.completed":
        opened = proof.opened_checkout("creem", obj.get("id"))
        product = billing.Product.find(opened.product_id)
        order = obj.get("order") or {}
        proof.same_account(metadata.get("user_id"), opened.user_id)
        proof.same_product(metadata.get("product_id"), product.id)
        _same_creem_product(_creem_product_id(obj) or order.get("product"), product, deps)
        proof.paid_the_price(order.get("amount"), order.get("currency"), int(opened.amount_cents),
                             opened.currency)
        if product.plan_id:
            subscription = obj.get("subscription") or {}
            proof.link_subscription("creem", subscription.get("id"), opened)
            return billing.purchase(row, "creem", opened.user_id, subscription["id"],
                                    subscription.get("status", "active"), product.id, created, deps)
        return billing.grant_purchase(row, "creem", order.get("id") or obj["id"], opened.user_id,
                                      product, int(opened.amount_cents), opened.currency)
    if kind == "subscription.paid":
        owned = proof.owned_subscription("creem", obj.get("id"), metadata.get("user_id"), created)
        if owned is None:
            raise proof.waiting_for_checkout()
        product = billing.Product.find(owned.product_id)
        proof.same_product(metadata.get("product_id"), product.id)
        _same_creem_product(_creem_product_id(obj), product, deps)
        # The period's price is the subscription's product's, which Creem sends with it.
        price = obj.get("product") if isinstance(obj.get("product"), dict) else {}
        proof.paid_the_price(price.get("price"), price.get("currency"), int(owned.amount_cents),
                             owned.currency)
        period = obj.get("last_transaction_id") or event["id"]
        outcome = billing.grant_period(row, "creem", period, owned.user_id, product, None,
                                       int(owned.amount_cents), owned.currency)
        state = billing.event_row(f"creem:{event['id']}:state", kind)
        billing.set_subscription(state, "creem", owned.user_id, obj["id"], obj.get("status", "active"),
                                 product.id, created, deps)
        return outcome
    if kind in ("subscription.canceled", "subscription.expired"):
        if "user_id" not in metadata:
            return billing.record_only(row)
        owned = proof.owned_subscription("creem", obj.get("id"), metadata["user_id"], created)
        if owned is None:
            return "not yet linked " + billing.record_only(row)
        proof.same_product(metadata.get("product_id"), owned.product_id)
        return billing.set_subscription(row, "creem", owned.user_id, obj["id"], "canceled",
                                        owned.product_id, created, deps)
    if kind in ("refund.created", "dispute.created"):
        order = obj.get("order") or {}
        refunded = None if kind == "dispute.created" else _whole_cents(obj.get("refund_amount"))
        return billing.clawback(row, "creem", order.get("id") or "", refunded,
                                obj.get("refund_currency") or order.get("currency"))
    return "ignored"
