"""The credit ledger: append-only, one row per cause.

The range key is the cause itself (``signup``, ``job:<id>:debit`` ...), so writing the same
cause twice fails its condition instead of granting twice. History is read newest first
through the local index on ``created_at``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pynamodb.attributes import NumberAttribute, TTLAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.indexes import AllProjection, LocalSecondaryIndex

from chalicelib.config import resource_name
from chalicelib.models.base import BaseModel, ExpiringByDay, utcnow


class LedgerByTime(LocalSecondaryIndex):
    class Meta:
        index_name = "by_time"
        projection = AllProjection()

    user_id = UnicodeAttribute(hash_key=True)
    created_at = UTCDateTimeAttribute(range_key=True)


# The policy keeps transaction records 7 years (and a day, so the last day is whole).
KEEP = timedelta(days=7 * 365 + 2 + 1)


class LedgerEntry(BaseModel):
    class Meta(BaseModel.Meta):
        table_name = resource_name("credit-ledger")

    user_id = UnicodeAttribute(hash_key=True)
    reference = UnicodeAttribute(range_key=True)
    kind = UnicodeAttribute()
    amount = NumberAttribute()
    balance_after = NumberAttribute()
    created_at = UTCDateTimeAttribute(default=utcnow)
    expires_at = TTLAttribute(null=True)
    expiry_day = UnicodeAttribute(null=True)

    by_time = LedgerByTime()
    expiring = ExpiringByDay()

    @classmethod
    def new(cls, user_id: str, reference: str, *, kind: str, amount: int, balance_after: int,
            created_at: datetime | None = None) -> LedgerEntry:
        """A row that keeps itself 7 years from when it was made."""
        made = created_at or utcnow()
        expires = made + KEEP
        return cls(user_id, reference, kind=kind, amount=amount, balance_after=balance_after,
                   created_at=made, expires_at=expires, expiry_day=expires.date().isoformat())
