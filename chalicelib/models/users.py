"""Accounts. An email address is claimed in its own table so that uniqueness is one
conditional write, not a read followed by a write."""

from __future__ import annotations

from pynamodb.attributes import (
    BooleanAttribute,
    MapAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.indexes import GlobalSecondaryIndex, KeysOnlyProjection

from chalicelib.config import resource_name
from chalicelib.models.base import BaseModel, utcnow


class AwaitingErasure(GlobalSecondaryIndex):
    """Sparse: closed accounts whose personal data the erasure sweep has yet to remove."""

    class Meta:
        index_name = "awaiting_erasure"
        projection = KeysOnlyProjection()
        billing_mode = "PAY_PER_REQUEST"

    erasure_queue = UnicodeAttribute(hash_key=True)
    erase_after = UTCDateTimeAttribute(range_key=True)


class User(BaseModel):
    class Meta(BaseModel.Meta):
        table_name = resource_name("users")

    user_id = UnicodeAttribute(hash_key=True)
    email = UnicodeAttribute()
    password_hash = UnicodeAttribute()
    status = UnicodeAttribute(default="active")
    plan = UnicodeAttribute(default="free")
    # The balance; changed only in the same transaction as a ledger row, under a condition.
    credits = NumberAttribute(default=0)
    preferences = MapAttribute(default=dict)
    # The person attested being 13 or over; the birth date itself is not kept.
    age_attested_at = UTCDateTimeAttribute()
    policy_version = UnicodeAttribute()
    policy_accepted_at = UTCDateTimeAttribute()
    marketing_opt_in = BooleanAttribute(default=False)
    marketing_choice_at = UTCDateTimeAttribute()
    email_verified_at = UTCDateTimeAttribute(null=True)
    # A new address waiting for its verification link; the old one stays in use until then.
    pending_email = UnicodeAttribute(null=True)
    password_changed_at = UTCDateTimeAttribute(null=True)
    # Every access token carries the generation it was issued in; raising it (password reset or
    # change, an undone email change) refuses every token issued before, wherever the user is read.
    token_generation = NumberAttribute(default=0)
    # Sessions signed out, by id, with the time their last access token expires: their tokens
    # are refused until then (entries past it are dropped at the next sign-out).
    ended_sessions = MapAttribute(null=True)
    # The free signup credits, granted once the address is verified (and the day's budget allows).
    signup_grant_pending = BooleanAttribute(null=True)
    # The paid plan's subscription, whichever provider holds it.
    subscription_provider = UnicodeAttribute(null=True)
    subscription_id = UnicodeAttribute(null=True)
    subscription_status = UnicodeAttribute(null=True)
    # The provider's time of the last subscription event applied: older ones arriving late
    # are recorded and ignored, so events in any order end in the right state.
    subscription_event_at = NumberAttribute(null=True)
    # When the current subscription was bought (the provider's time): of two bought around the
    # same time, the later is the plan.
    subscription_started_at = NumberAttribute(null=True)
    stripe_customer_id = UnicodeAttribute(null=True)
    # The last policy version whose change notice this user was sent (at most once each).
    policy_notice_version = UnicodeAttribute(null=True)
    # Granted by the management command only (python -m chalicelib.admin), never by the API.
    role = UnicodeAttribute(null=True)
    # Consent to analytics (the cookie banner's second choice); off until given.
    analytics_consent = BooleanAttribute(default=False)
    analytics_choice_at = UTCDateTimeAttribute(null=True)
    created_at = UTCDateTimeAttribute(default=utcnow)
    # The plan's fair use, kept beside the balance and changed in the same transaction as each
    # debit for a video, so that asking for one reads nothing else: the videos asked for on
    # `usage_day` (UTC), and the ids of jobs that may still be open. Each job is added when it
    # is made and taken out when it ends; one left behind is found out by a consistent read
    # of the job (generation._fair_use), so the set only ever errs on the side of a read.
    usage_day = UnicodeAttribute(null=True)
    videos_that_day = NumberAttribute(default=0)
    open_jobs = UnicodeSetAttribute(null=True)
    # Set when the account is closed: "pending" until erased, no sooner than erase_after.
    erasure_queue = UnicodeAttribute(null=True)
    erase_after = UTCDateTimeAttribute(null=True)
    erasure_due_by = UTCDateTimeAttribute(null=True)

    awaiting_erasure = AwaitingErasure()


class EmailClaim(BaseModel):
    class Meta(BaseModel.Meta):
        table_name = resource_name("emails")

    email = UnicodeAttribute(hash_key=True)
    user_id = UnicodeAttribute()
