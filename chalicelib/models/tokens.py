"""Single-use emailed tokens (email verification, password reset). Only a hash is stored;
using one deletes it under a condition, so it works once."""

from __future__ import annotations

from pynamodb.attributes import TTLAttribute, UnicodeAttribute, UTCDateTimeAttribute

from chalicelib.config import resource_name
from chalicelib.models.base import BaseModel, ExpiringByDay, KeysByUser, utcnow


class OneTimeToken(BaseModel):
    class Meta(BaseModel.Meta):
        table_name = resource_name("tokens")

    token_hash = UnicodeAttribute(hash_key=True)
    purpose = UnicodeAttribute()  # verify_email | reset_password
    user_id = UnicodeAttribute()
    # For verify_email: the address being verified (a new one, when the email is changed).
    email = UnicodeAttribute(null=True)
    created_at = UTCDateTimeAttribute(default=utcnow)
    expires_at = TTLAttribute()
    expiry_day = UnicodeAttribute(null=True)  # expires_at's date, for the index below

    expiring = ExpiringByDay()
    by_user = KeysByUser()
