"""Refresh-token sessions. Only a hash of the current token is stored; each use rotates it."""

from __future__ import annotations

from pynamodb.attributes import TTLAttribute, UnicodeAttribute, UTCDateTimeAttribute

from chalicelib.config import resource_name
from chalicelib.models.base import BaseModel, utcnow


class Session(BaseModel):
    class Meta(BaseModel.Meta):
        table_name = resource_name("sessions")

    session_id = UnicodeAttribute(hash_key=True)
    user_id = UnicodeAttribute()
    token_hash = UnicodeAttribute()
    created_at = UTCDateTimeAttribute(default=utcnow)
    # DynamoDB's TTL removes the row some time after this; reads check it themselves.
    expires_at = TTLAttribute()
