"""What every table shares: on-demand billing and the stage's name prefix."""

from __future__ import annotations

from datetime import UTC, datetime

from pynamodb.models import Model


def utcnow() -> datetime:
    return datetime.now(UTC)


class BaseModel(Model):
    class Meta:
        abstract = True
        billing_mode = "PAY_PER_REQUEST"
