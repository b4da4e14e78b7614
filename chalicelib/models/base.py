"""What every table shares: on-demand billing and the stage's name prefix."""

from __future__ import annotations

import functools
from datetime import UTC, datetime

from pynamodb.attributes import TTLAttribute, UnicodeAttribute
from pynamodb.connection import Connection
from pynamodb.indexes import GlobalSecondaryIndex, KeysOnlyProjection
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite


def utcnow() -> datetime:
    return datetime.now(UTC)


class ExpiringByDay(GlobalSecondaryIndex):
    """Sparse, by the day a row expires: the sweeps delete rows past `expires_at` without
    waiting for DynamoDB's TTL, which may take days; bucketing by day keeps each partition
    small at any volume. Shared by every table whose rows expire this way."""

    class Meta:
        index_name = "expiring"
        projection = KeysOnlyProjection()
        billing_mode = "PAY_PER_REQUEST"

    expiry_day = UnicodeAttribute(hash_key=True)
    expires_at = TTLAttribute(range_key=True)


class KeysByUser(GlobalSecondaryIndex):
    """A table's keys by the user they belong to: how erasure finds a person's rows."""

    class Meta:
        index_name = "by_user"
        projection = KeysOnlyProjection()
        billing_mode = "PAY_PER_REQUEST"

    user_id = UnicodeAttribute(hash_key=True)


class BaseModel(Model):
    class Meta:
        abstract = True
        billing_mode = "PAY_PER_REQUEST"


@functools.cache
def _connection() -> Connection:
    # One per process: its botocore client (one per thread) is costly to build, and a
    # Connection made per transaction would build a new one every time.
    return Connection()


def transaction() -> TransactWrite:
    """A DynamoDB transaction (TransactWriteItems) over the process's shared connection."""
    return TransactWrite(connection=_connection())
