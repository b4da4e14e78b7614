"""The local stand-in for Stripe's and Creem's checkout pages, on where LOCAL_CHECKOUT is set and
the provider has no key (make run, tests). Its "pay" signs the events the provider would send,
in the provider's own format and with its webhook secret, with the amounts, currency and mode
our checks expect, and hands them to the same webhook code as production."""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import time
import uuid
from datetime import timedelta
from typing import Any

from pynamodb.exceptions import DoesNotExist

from chalicelib.config import Settings, webhook_secret
from chalicelib.errors import NotFound
from chalicelib.models import LocalCheckout, User
from chalicelib.models.base import utcnow
from chalicelib.services import accounts, catalogue, payment_webhooks
from chalicelib.services.billing import BillingDeps, Product


def open_session(user_id: str, product: Product, provider: str, success: str, cancel: str,
                         base: str) -> tuple[str, str]:
    """(the provider's checkout id its events will name, the page's address)."""
    now = utcnow()
    session = LocalCheckout(
        uuid.uuid4().hex, user_id=user_id, product_id=product.id, provider=provider,
        success_url=success, cancel_url=cancel, created_at=now, expires_at=now + timedelta(hours=1),
    )
    session.save()
    prefix = "cs_local_" if provider == "stripe" else "ch_local_"
    return prefix + session.session_id, f"{base}/billing/local-checkout/{session.session_id}"


def _local_session(session_id: str, deps: BillingDeps) -> LocalCheckout:
    if not deps.settings.local_checkout:
        raise NotFound("There is no local checkout here.")
    try:
        session = LocalCheckout.get(session_id[:64])
    except DoesNotExist:
        raise NotFound("This checkout does not exist or has ended.") from None
    if session.expires_at <= utcnow():
        raise NotFound("This checkout has expired; start again from the billing page.")
    return session


def page(session_id: str, deps: BillingDeps) -> str:
    session = _local_session(session_id, deps)
    product = Product.find(session.product_id)
    price = f"${product.price_cents / 100:.2f}" + (" a month" if product.plan_id else "")
    if product.plan_id:
        days = catalogue.PLANS[product.plan_id].retention_days
        what = f"{product.credits} credits every month, videos kept {days} days"
    else:
        what = f"{product.credits} credits"
    action = f"/billing/local-checkout/{html.escape(session.session_id)}/pay"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>Local checkout · AISora2</title></head>
<body style="font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem">
<p style="color:#a15c00"><strong>Local test checkout.</strong> No money moves: this page stands in
for {html.escape(session.provider.title())} because no {html.escape(session.provider)} key is configured.</p>
<h1>{html.escape(product.name)}</h1>
<p>{html.escape(what)}</p><p style="font-size:1.6rem"><strong>{html.escape(price)}</strong></p>
<form method="post" action="{action}">
<button type="submit" style="font-size:1.1rem;padding:.6rem 1.4rem">Pay {html.escape(price)}</button>
</form>
<p><a href="{html.escape(session.cancel_url)}">Cancel</a></p>
</body></html>"""


def pay(session_id: str, deps: BillingDeps) -> str:
    """Pays a local checkout: the provider's event, signed with its webhook secret, goes
    through the same verification and handling as the provider's own would."""
    session = _local_session(session_id, deps)
    if session.status != "open":
        return session.success_url
    product = Product.find(session.product_id)
    user = accounts.get_user(session.user_id)
    metadata = {"user_id": session.user_id, "product_id": product.id}
    if session.provider == "stripe":
        for event in _stripe_events(session, product, user, metadata, deps.settings.payments_livemode):
            body = json.dumps(event).encode()
            stamp = int(time.time())
            secret = webhook_secret("STRIPE_WEBHOOK_SECRET")
            mac = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
            payment_webhooks.handle_stripe_webhook(body, f"t={stamp},v1={mac}", deps)
    else:
        for event in _creem_events(session, product, user, metadata, deps.settings):
            body = json.dumps(event).encode()
            secret = webhook_secret("CREEM_WEBHOOK_SECRET").encode()
            signature = hmac.new(secret, body, hashlib.sha256).hexdigest()
            payment_webhooks.handle_creem_webhook(body, signature, deps)
    # Marked paid only once its events were handled: a failure leaves it payable, and paying
    # again grants nothing twice (the payment's ledger reference is the session's).
    session.update(actions=[LocalCheckout.status.set("paid")])
    return session.success_url


def _stripe_events(session: LocalCheckout, product: Product, user: User, metadata: dict[str, str],
                   live: bool) -> list[dict[str, Any]]:
    sid = session.session_id
    customer = f"cus_local_{user.user_id[:14]}"
    checkout_session: dict[str, Any] = {
        "id": f"cs_local_{sid}", "object": "checkout.session", "status": "complete",
        "payment_status": "paid", "client_reference_id": user.user_id, "customer": customer,
        "metadata": metadata, "amount_total": product.price_cents, "currency": product.currency,
        "mode": "subscription" if product.plan_id else "payment",
        "payment_intent": None if product.plan_id else f"pi_local_{sid}",
        "subscription": f"sub_local_{sid}" if product.plan_id else None,
    }
    events = [_stripe_event("checkout.session.completed", checkout_session, live)]
    if product.plan_id:
        events.append(_stripe_event("invoice.paid", live=live, obj={
            "id": f"in_local_{sid}", "object": "invoice", "billing_reason": "subscription_create",
            "customer": customer, "amount_paid": product.price_cents, "currency": product.currency,
            "payment_intent": f"pi_local_{sid}",
            "parent": {"type": "subscription_details",
                       "subscription_details": {"subscription": f"sub_local_{sid}", "metadata": metadata}},
        }))
    return events


def _stripe_event(kind: str, obj: dict[str, Any], live: bool) -> dict[str, Any]:
    return {"id": f"evt_local_{uuid.uuid4().hex}", "object": "event", "type": kind,
            "created": int(time.time()), "livemode": live, "data": {"object": obj}}


def _creem_events(session: LocalCheckout, product: Product, user: User, metadata: dict[str, str],
                  settings: Settings) -> list[dict[str, Any]]:
    sid = session.session_id
    now_ms = int(time.time() * 1000)
    mode = "prod" if settings.payments_livemode else "test"
    creem_product = {"id": settings.creem_products.get(product.id) or f"prod_local_{product.id}",
                     "price": product.price_cents, "currency": product.currency.upper(), "mode": mode}
    subscription = {"id": f"sub_local_{sid}", "status": "active", "metadata": metadata, "mode": mode,
                    "product": creem_product, "last_transaction_id": f"tran_local_{sid}"}
    events = [{
        "id": f"evt_local_{uuid.uuid4().hex}", "eventType": "checkout.completed", "created_at": now_ms,
        "object": {
            "id": f"ch_local_{sid}", "object": "checkout", "status": "completed", "metadata": metadata,
            "mode": mode, "product": creem_product,
            "order": {"id": f"ord_local_{sid}", "amount": product.price_cents,
                      "currency": product.currency.upper(), "product": creem_product["id"], "mode": mode,
                      "type": "recurring" if product.plan_id else "onetime"},
            "customer": {"id": f"cust_local_{user.user_id[:14]}", "email": user.email},
            "subscription": subscription if product.plan_id else None,
        },
    }]
    if product.plan_id:
        events.append({"id": f"evt_local_{uuid.uuid4().hex}", "eventType": "subscription.paid",
                       "created_at": now_ms, "object": subscription})
    return events
