"""What every table shares: on-demand billing and the stage's name prefix."""

from __future__ import annotations

import functools
from datetime import UTC, datetime

from pynamodb.connection import Connection
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite


def utcnow() -> datetime:
    return datetime.now(UTC)


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
