"""Payments: the providers' events we have acted on, the checkouts we opened and the
subscriptions they started (what a webhook is checked against), the payments that granted
credits (for refunds and disputes), and checkout sessions of the local stand-in for a provider's
page."""

from __future__ import annotations

from pynamodb.attributes import NumberAttribute, TTLAttribute, UnicodeAttribute, UTCDateTimeAttribute

from chalicelib.config import resource_name
from chalicelib.models.base import BaseModel, KeysByUser, utcnow


class BillingEvent(BaseModel):
    """One row per provider event acted on, written in the same transaction as its effect,
    so a replayed event finds its row and changes nothing. Creem signs no timestamp, so this
    row is its only replay defence: rows are kept 400 days."""

    class Meta(BaseModel.Meta):
        table_name = resource_name("billing-events")

    event_key = UnicodeAttribute(hash_key=True)  # "<provider>:<event id>"
    type = UnicodeAttribute()
    # Set when the signed event claimed what our records do not back: why ("amount"), and the
    # figures compared, never a person's data. It granted and cancelled nothing.
    mismatch = UnicodeAttribute(null=True)
    mismatch_detail = UnicodeAttribute(null=True)
    processed_at = UTCDateTimeAttribute(default=utcnow)
    expires_at = TTLAttribute()


class Checkout(BaseModel):
    """A checkout we opened at a provider (POST /billing/checkout): who it was for, what it sold
    and at what price. A completed-checkout event is acted on only as far as it matches this."""

    class Meta(BaseModel.Meta):
        table_name = resource_name("checkouts")

    checkout_key = UnicodeAttribute(hash_key=True)  # "<provider>:<the provider's checkout id>"
    user_id = UnicodeAttribute()
    product_id = UnicodeAttribute()
    amount_cents = NumberAttribute()
    currency = UnicodeAttribute()
    created_at = UTCDateTimeAttribute(default=utcnow)
    # Long enough for a delayed payment method and the provider's days of retries.
    expires_at = TTLAttribute()

    by_user = KeysByUser()


class Subscription(BaseModel):
    """A subscription a checkout of ours started, and the account it belongs to: its later
    events (renewals, changes, cancellation) act on that account only."""

    class Meta(BaseModel.Meta):
        table_name = resource_name("subscriptions")

    subscription_key = UnicodeAttribute(hash_key=True)  # "<provider>:<subscription id>"
    user_id = UnicodeAttribute()
    product_id = UnicodeAttribute()
    # The price it was sold at, which each renewal must be (a later catalogue change is not).
    amount_cents = NumberAttribute()
    currency = UnicodeAttribute()
    checkout_key = UnicodeAttribute()
    created_at = UTCDateTimeAttribute(default=utcnow)

    by_user = KeysByUser()


class Payment(BaseModel):
    """A payment that granted credits; a refund or dispute claws back its share of them.
    A transaction record: kept 7 years, pseudonymised when the account is erased."""

    class Meta(BaseModel.Meta):
        table_name = resource_name("payments")

    payment_key = UnicodeAttribute(hash_key=True)  # "<provider>:<payment intent / order id>"
    user_id = UnicodeAttribute()
    product_id = UnicodeAttribute()
    credits = NumberAttribute()
    amount_cents = NumberAttribute()
    currency = UnicodeAttribute()
    clawed_back = NumberAttribute(default=0)
    created_at = UTCDateTimeAttribute(default=utcnow)

    by_user = KeysByUser()


class LocalCheckout(BaseModel):
    """A checkout of the local stand-in for Stripe's and Creem's pages (no key configured)."""

    class Meta(BaseModel.Meta):
        table_name = resource_name("local-checkouts")

    session_id = UnicodeAttribute(hash_key=True)
    user_id = UnicodeAttribute()
    product_id = UnicodeAttribute()
    provider = UnicodeAttribute()
    status = UnicodeAttribute(default="open")
    success_url = UnicodeAttribute()
    cancel_url = UnicodeAttribute()
    created_at = UTCDateTimeAttribute(default=utcnow)
    expires_at = TTLAttribute()

    by_user = KeysByUser()
