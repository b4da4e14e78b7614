"""Run by test_billing: 50 parallel spends against a moto server that handles one request at a
time, as DynamoDB applies one write at a time to an item. Any read-then-write race in our code
shows as more spends than credits. Then 20 parallel requests for a video from a plan that
renders 3 at a time, with credits for all 20: any race in the fair-use check shows as more than
3 made. Prints the outcome as JSON."""

from __future__ import annotations

import json
import os
import sys
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
def main() -> None:
    sys.path.insert(0, str(ROOT))
    from chalicelib.local.embedded_aws import moto_server

    with moto_server(one_at_a_time=True) as endpoint:
        os.environ.update({"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "x",
                           "AWS_SECRET_ACCESS_KEY": "x", "AWS_DEFAULT_REGION": "us-east-1",
                           "RESOURCE_PREFIX": "aisora-race"})
        from chalicelib.local.bootstrap import create_tables
        from chalicelib.models import LedgerEntry, User
        from chalicelib.services import credits

        create_tables()
        now = datetime.now(UTC)
        new_user("racer", now)
        credits.apply("racer", 400, "adjustment", "top-up")  # ten videos of 40
        spends = race(50, lambda: credits.apply("racer", -40, "debit", f"job:{uuid.uuid4().hex}:debit"),
                      "spent", ("refused", credits.InsufficientCredits))
        rows = list(LedgerEntry.query("racer"))
        print(json.dumps({
            **spends,
            "balance": int(User.get("racer").credits), "ledger_sum": sum(int(r.amount) for r in rows),
            "videos": race_for_videos(now),
        }))


def new_user(user_id: str, now: datetime) -> None:
    from chalicelib.models import User

    User(user_id, email=f"{user_id}@example.com", password_hash="-", credits=0, age_attested_at=now,
         policy_version="v", policy_accepted_at=now, marketing_choice_at=now).save()


def race(times: int, attempt: Callable[[], object], won: str, lost: tuple[str, type[Exception]]) -> dict:
    """`attempt` from `times` threads at once: how many won, lost, or failed otherwise."""
    outcomes: list[str] = []

    def once() -> None:
        try:
            attempt()
            outcomes.append(won)
        except lost[1]:
            outcomes.append(lost[0])
        except Exception as error:
            outcomes.append(type(error).__name__)

    threads = [threading.Thread(target=once) for _ in range(times)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {won: outcomes.count(won), lost[0]: outcomes.count(lost[0]),
            "other": sorted(o for o in outcomes if o not in (won, lost[0]))}


def race_for_videos(now: datetime) -> dict[str, object]:
    from types import SimpleNamespace

    from chalicelib import aws
    from chalicelib.adapters.queue import MessageQueue
    from chalicelib.adapters.storage import MediaStore
    from chalicelib.errors import LimitReached
    from chalicelib.services import catalogue, credits, generation

    queue = aws.sqs().create_queue(QueueName="aisora-race-jobs")["QueueUrl"]
    deps = generation.Dependencies(MessageQueue(queue), MediaStore("aisora-race-media"),
                                   {"local": SimpleNamespace(name="local")}, 300, 0)
    new_user("maker", now)
    spec = generation.parse_request({"prompt": "a race", "seconds": 4})
    credits.apply("maker", 20 * generation.quote(spec), "adjustment", "top-up")
    made = race(20, lambda: generation.create_video("maker", spec, deps), "made", ("limited", LimitReached))
    return {**made, "at_once": catalogue.PLANS["free"].max_concurrent}


if __name__ == "__main__":
    main()
