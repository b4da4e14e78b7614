"""Password hashing cost and login timing, known versus unknown email, in-process on moto.

    make bench        (or: .venv/bin/python bench/accounts.py)

Medians over RUNS runs. A failed login costs the same argon2 work whether or not the address
has an account, so the two login figures should be close and timing not tell who has an
account. What remains between them is the DynamoDB reads a known address adds (moto's here).
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench import table, world
from bench.table import Row

TITLE = "accounts (argon2id; login timing, in-process moto)"
RUNS = 15


def median_seconds(action: Callable[[], None], before: Callable[[], None] | None = None) -> float:
    samples = []
    for _ in range(RUNS):
        if before:
            before()
        start = time.perf_counter()
        action()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def measure() -> list[Row]:
    from chalice.test import Client

    from chalicelib.services import passwords

    stored = passwords.hash_password(world.PASSWORD)
    params = stored.split("$")[3]
    hashing = median_seconds(lambda: passwords.hash_password("x" * 20))
    verifying = median_seconds(lambda: passwords.verify(stored, world.PASSWORD))

    with world.in_process_aws():
        from app import app
        from chalicelib.models import Throttle
        from chalicelib.services import policy

        with Client(app, stage_name="dev") as client:
            headers = {"Content-Type": "application/json"}
            body = {"email": "bench@example.com", "password": world.PASSWORD,
                    "birth_date": "1990-01-01", "accept_policy_version": policy.in_force().version}
            client.http.post("/auth/signup", headers=headers, body=json.dumps(body))

            def forget_failures() -> None:
                # Untimed: keeps the throttle from answering 429 instead of doing the work.
                for row in Throttle.scan():
                    row.delete()

            def attempt(email: str) -> None:
                response = client.http.post("/auth/login", headers=headers, body=json.dumps(
                    {"email": email, "password": "a wrong password"}))
                assert response.status_code == 401, response.status_code

            known = median_seconds(lambda: attempt("bench@example.com"), forget_failures)
            unknown = median_seconds(lambda: attempt("nobody@example.com"), forget_failures)
    ratio = known / unknown
    return [
        Row("argon2id hash", table.duration(hashing), detail=params),
        Row("argon2id verify", table.duration(verifying), detail=params),
        Row("login, known email, wrong password", table.duration(known),
            f"unknown email: {table.duration(unknown)}", table.times(ratio),
            detail=f"difference {table.duration(known - unknown)}, the same argon2 work either way"),
    ]


if __name__ == "__main__":
    table.main(TITLE, measure)
