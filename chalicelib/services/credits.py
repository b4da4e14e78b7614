"""The credit ledger and the balance it explains.

Every change is one DynamoDB transaction: a ledger row keyed by its cause (written only if
that cause has no row yet), the balance on the user changed under the condition that it still
holds the value it was read with, and whatever else the change belongs to (a job created, a
job failed). A replayed cause fails its condition and changes nothing; the balance can never
go below zero through spending.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

from pynamodb.exceptions import DoesNotExist, TransactWriteError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from chalicelib import observability
from chalicelib.errors import Busy, InsufficientCredits, NotFound
from chalicelib.models import LedgerEntry, User
from chalicelib.models.base import transaction

# Optimistic concurrency: a lost race reads the balance again after a short, jittered pause.
# Races are rare (one person's balance), but a burst of parallel requests must all resolve.
_ATTEMPTS = 25
_MAX_PAUSE = 0.1

ExtraWrites = Callable[[TransactWrite], None]
# More changes to the user, decided from the user as read for each attempt (and free to refuse),
# with the condition under which they still hold, if the balance's own is not enough.
UserActions = Callable[[User], tuple[list[Action], Condition | None]]


class AlreadyApplied(Exception):
    """Raised when the cause already has its ledger row, or the writes it belongs to no
    longer apply (their own conditions failed): nothing was changed."""


def apply(
    user_id: str,
    amount: int,
    kind: str,
    reference: str,
    extra_writes: ExtraWrites | None = None,
    allow_negative: bool = False,
    read: User | None = None,
    user_actions: UserActions | None = None,
) -> int:
    """Adds `amount` (negative to spend) to the balance; returns the balance after.

    Raises InsufficientCredits when spending more than the balance, AlreadyApplied when the
    cause was already recorded or `extra_writes`' conditions fail. Only a clawback (a refund
    or dispute of credits already spent) may leave the balance below zero. `read` is a
    consistent read of the user the caller already made (saves one read). `user_actions`
    changes the user further in the same write; the balance's condition covers them too.
    """
    user = read or read_user(user_id)
    for attempt in range(_ATTEMPTS):
        if attempt:
            time.sleep(random.uniform(0, min(_MAX_PAUSE, 0.005 * 2**attempt)))  # noqa: S311 - jitter
        if amount < 0 and not allow_negative and user.status != "active":
            raise NotFound("This account is closed.")
        balance = int(user.credits)
        after = balance + amount
        # Only spending is refused: a grant always lands, even on a balance a clawback left
        # below zero.
        if after < 0 and amount < 0 and not allow_negative:
            raise InsufficientCredits(cost=-amount, balance=balance)
        entry = LedgerEntry.new(user_id, reference, kind=kind, amount=amount, balance_after=after)
        more, holds = user_actions(user) if user_actions else ([], None)
        unchanged = User.credits == balance
        try:
            with transaction() as tx:
                tx.update(
                    User(user_id),
                    actions=[User.credits.set(after), *more],
                    condition=unchanged & holds if holds is not None else unchanged,
                )
                tx.save(entry, condition=LedgerEntry.reference.does_not_exist())
                if extra_writes:
                    extra_writes(tx)
        except TransactWriteError as exc:
            codes = {r.code for r in (exc.cancellation_reasons or []) if r}
            if not codes & {"TransactionConflict", "ConditionalCheckFailed"}:
                raise
            # pynamodb orders a transaction's items by kind, so the reasons' positions say
            # little: the balance read again tells whether it was the race.
            seen = user
            user = read_user(user_id)
            if "TransactionConflict" in codes or int(user.credits) != balance or (
                    holds is not None and _usage(user) != _usage(seen)):
                continue  # the user changed since we read it: try with what it holds now
            raise AlreadyApplied(reference) from None  # the cause, or extra_writes, was done
        observability.metric("CreditsGranted" if amount > 0 else "CreditsSpent", abs(amount), kind=kind)
        return after
    raise Busy("Your balance is changing too quickly; try again in a moment.")


# What a change of the balance reads of the user: for itself, and for the fair use of a video.
READ = ["credits", "status", "plan", "usage_day", "videos_that_day", "open_jobs"]


def _usage(user: User) -> tuple[object, ...]:
    return user.usage_day, user.videos_that_day, frozenset(user.open_jobs or ())


def read_user(user_id: str) -> User:
    """The user as a change of the balance needs it, read consistently."""
    try:
        return User.get(user_id, consistent_read=True, attributes_to_get=READ)
    except DoesNotExist:
        raise NotFound("This account no longer exists.") from None


def history(user_id: str, limit: int = 100) -> list[dict[str, Any]]:
    rows = LedgerEntry.by_time.query(user_id, scan_index_forward=False, limit=limit)
    return [
        {
            "kind": row.kind,
            "amount": int(row.amount),
            "balance_after": int(row.balance_after),
            "reference": row.reference,
            "created_at": row.created_at.isoformat(),
        }
        for row in rows
    ]
