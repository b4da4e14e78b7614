"""Privacy requests, support inquiries and data exports."""

from __future__ import annotations

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, KeysOnlyProjection

from chalicelib.config import resource_name
from chalicelib.models.base import BaseModel, KeysByUser, utcnow


class OpenByDue(GlobalSecondaryIndex):
    """Sparse: what is still open, by when it must be answered. Operators read it in order."""

    class Meta:
        index_name = "open_by_due"
        projection = AllProjection()
        billing_mode = "PAY_PER_REQUEST"

    is_open = UnicodeAttribute(hash_key=True)
    due_at = UTCDateTimeAttribute(range_key=True)


class PrivacyRequest(BaseModel):
    class Meta(BaseModel.Meta):
        table_name = resource_name("privacy-requests")

    request_id = UnicodeAttribute(hash_key=True)
    type = UnicodeAttribute()
    status = UnicodeAttribute(default="open")
    user_id = UnicodeAttribute(null=True)  # absent when the sender has no account (a parent)
    contact_email = UnicodeAttribute(null=True)
    subject_email = UnicodeAttribute(null=True)  # the child's account, for a parent's report
    # The account that used subject_email when the report arrived (none if no account did).
    subject_user_id = UnicodeAttribute(null=True)
    message = UnicodeAttribute(default="")
    received_at = UTCDateTimeAttribute(default=utcnow)
    due_at = UTCDateTimeAttribute()
    flagged_at = UTCDateTimeAttribute(null=True)
    # A child report's outcome is its status: open, suspended, then reinstated or erased; or
    # dismissed. The operator who decided, and when, are in the operator's audit trail.
    decided_at = UTCDateTimeAttribute(null=True)
    is_open = UnicodeAttribute(null=True)  # "open" while open: the sparse index's key

    open_by_due = OpenByDue()
    by_user = KeysByUser()


class SupportByEmail(GlobalSecondaryIndex):
    """So that erasing an account finds the inquiries sent from its address."""

    class Meta:
        index_name = "by_email"
        projection = KeysOnlyProjection()
        billing_mode = "PAY_PER_REQUEST"

    email = UnicodeAttribute(hash_key=True)


class SupportInquiry(BaseModel):
    class Meta(BaseModel.Meta):
        table_name = resource_name("support")

    inquiry_id = UnicodeAttribute(hash_key=True)
    email = UnicodeAttribute()
    user_id = UnicodeAttribute(null=True)
    subject = UnicodeAttribute()
    message = UnicodeAttribute()
    received_at = UTCDateTimeAttribute(default=utcnow)
    due_at = UTCDateTimeAttribute()
    is_open = UnicodeAttribute(null=True)

    open_by_due = OpenByDue()
    by_email = SupportByEmail()


class ExportsByExpiry(GlobalSecondaryIndex):
    """Sparse: archives not yet deleted, by expiry; one shard, as exports are few."""

    class Meta:
        index_name = "expiring"
        projection = KeysOnlyProjection()
        billing_mode = "PAY_PER_REQUEST"

    expiry_shard = UnicodeAttribute(hash_key=True)
    expires_at = UTCDateTimeAttribute(range_key=True)


class DataExport(BaseModel):
    """One archive of everything the service holds about a user, kept 7 days."""

    class Meta(BaseModel.Meta):
        table_name = resource_name("exports")

    user_id = UnicodeAttribute(hash_key=True)
    export_id = UnicodeAttribute(range_key=True)
    status = UnicodeAttribute(default="queued")  # queued | ready | failed
    archive_key = UnicodeAttribute(null=True)
    size_bytes = NumberAttribute(null=True)
    created_at = UTCDateTimeAttribute(default=utcnow)
    ready_at = UTCDateTimeAttribute(null=True)
    expires_at = UTCDateTimeAttribute()  # the archive and its address are gone after this
    expiry_shard = UnicodeAttribute(null=True)  # present until the archive is deleted

    expiring = ExportsByExpiry()
