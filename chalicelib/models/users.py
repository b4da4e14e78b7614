"""Accounts. An email address is claimed in its own table so that uniqueness is one
conditional write, not a read followed by a write."""

from __future__ import annotations

from pynamodb.attributes import (
    BooleanAttribute,
    MapAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
)

from chalicelib.config import resource_name
from chalicelib.models.base import BaseModel, utcnow


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
    created_at = UTCDateTimeAttribute(default=utcnow)


class EmailClaim(BaseModel):
    class Meta(BaseModel.Meta):
        table_name = resource_name("emails")

    email = UnicodeAttribute(hash_key=True)
    user_id = UnicodeAttribute()
