"""Failure counters for throttling, one row per key and fixed window. Keys are hashes, so no
email address or client address is stored here; DynamoDB's TTL clears old windows."""

from __future__ import annotations

from pynamodb.attributes import NumberAttribute, TTLAttribute, UnicodeAttribute

from chalicelib.config import resource_name
from chalicelib.models.base import BaseModel


class Throttle(BaseModel):
    class Meta(BaseModel.Meta):
        table_name = resource_name("throttles")

    key = UnicodeAttribute(hash_key=True)
    failures = NumberAttribute(default=0)
    expires_at = TTLAttribute()
