"""Refresh-token sessions. Only a hash of the current token is stored; each use rotates it.

Each session also keeps the technical information the privacy policy lists (client address,
approximate country, browser, operating system, device), and no longer than the session.
"""

from __future__ import annotations

from pynamodb.attributes import NumberAttribute, TTLAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex

from chalicelib.config import resource_name
from chalicelib.models.base import BaseModel, ExpiringByDay, utcnow


class SessionsByUser(GlobalSecondaryIndex):
    """To end every session of a user at once (password change, reset, account deletion)."""

    class Meta:
        index_name = "by_user"
        projection = AllProjection()
        billing_mode = "PAY_PER_REQUEST"

    user_id = UnicodeAttribute(hash_key=True)


class Session(BaseModel):
    class Meta(BaseModel.Meta):
        table_name = resource_name("sessions")

    session_id = UnicodeAttribute(hash_key=True)
    user_id = UnicodeAttribute()
    token_hash = UnicodeAttribute()
    # The user's token generation when the session began: its access tokens carry it.
    generation = NumberAttribute(default=0)
    created_at = UTCDateTimeAttribute(default=utcnow)
    last_used_at = UTCDateTimeAttribute(default=utcnow)
    # DynamoDB's TTL removes the row some time after this; reads check it themselves.
    expires_at = TTLAttribute()
    expiry_day = UnicodeAttribute(null=True)  # expires_at's date, for the index below
    client_ip = UnicodeAttribute(null=True)
    country = UnicodeAttribute(null=True)
    browser = UnicodeAttribute(null=True)
    os = UnicodeAttribute(null=True)
    device = UnicodeAttribute(null=True)

    by_user = SessionsByUser()
    expiring = ExpiringByDay()
