"""The credit ledger: append-only, one row per cause.

The range key is the cause itself (``signup``, ``job:<id>:debit`` ...), so writing the same
cause twice fails its condition instead of granting twice. History is read newest first
through the local index on ``created_at``.
"""

from __future__ import annotations

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.indexes import AllProjection, LocalSecondaryIndex

from chalicelib.config import resource_name
from chalicelib.models.base import BaseModel, utcnow


class LedgerByTime(LocalSecondaryIndex):
    class Meta:
        index_name = "by_time"
        projection = AllProjection()

    user_id = UnicodeAttribute(hash_key=True)
    created_at = UTCDateTimeAttribute(range_key=True)


class LedgerEntry(BaseModel):
    class Meta(BaseModel.Meta):
        table_name = resource_name("credit-ledger")

    user_id = UnicodeAttribute(hash_key=True)
    reference = UnicodeAttribute(range_key=True)
    kind = UnicodeAttribute()
    amount = NumberAttribute()
    balance_after = NumberAttribute()
    created_at = UTCDateTimeAttribute(default=utcnow)

    by_time = LedgerByTime()
