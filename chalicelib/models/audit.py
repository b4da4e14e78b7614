"""Account changes, one row each: what changed (field names, not values), when, from where.
Keyed by user, so that erasing an account erases its trail."""

from __future__ import annotations

from pynamodb.attributes import ListAttribute, UnicodeAttribute, UTCDateTimeAttribute

from chalicelib.config import resource_name
from chalicelib.models.base import BaseModel, utcnow


class AuditEntry(BaseModel):
    class Meta(BaseModel.Meta):
        table_name = resource_name("audit")

    user_id = UnicodeAttribute(hash_key=True)
    entry_id = UnicodeAttribute(range_key=True)  # ISO time + random suffix: sorts by time
    action = UnicodeAttribute()
    fields = ListAttribute(of=UnicodeAttribute, default=list)
    client_ip = UnicodeAttribute(null=True)
    created_at = UTCDateTimeAttribute(default=utcnow)
