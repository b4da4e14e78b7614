"""Password hashing cost and login timing, known versus unknown email, in-process on moto.

    make bench        (or: .venv/bin/python bench/accounts.py)

Prints medians over repeated runs; the two login figures should be close, so that timing does
not tell whether an address has an account.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.update({
    "STAGE": "dev", "RESOURCE_PREFIX": "aisora-bench", "MEDIA_BUCKET": "aisora-bench-media",
    "JWT_SECRET": "bench-only-secret-0123456789abcdef", "AWS_ACCESS_KEY_ID": "x",
    "AWS_SECRET_ACCESS_KEY": "x", "AWS_DEFAULT_REGION": "us-east-1", "JOBS_QUEUE_URL": "unused",
    "APP_BASE_URL": "http://127.0.0.1:8000", "MAIL_FROM": "AISora2 <no-reply@aisora2.com>",
})
os.environ.pop("AWS_ENDPOINT_URL", None)

from chalice.test import Client  # noqa: E402
from moto import mock_aws  # noqa: E402

RUNS = 15


def median_ms(action, before=None) -> float:
    samples = []
    for _ in range(RUNS):
        if before:
            before()
        start = time.perf_counter()
        action()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def main() -> None:
    from chalicelib.services import passwords

    stored = passwords.hash_password("correct horse battery staple")
    params = stored.split("$")[3]
    print(f"argon2id parameters              {params}")
    hashing = median_ms(lambda: passwords.hash_password("x" * 20))
    verifying = median_ms(lambda: passwords.verify(stored, "correct horse battery staple"))
    print(f"argon2id hash                    {hashing:7.1f} ms")
    print(f"argon2id verify                  {verifying:7.1f} ms")

    with mock_aws():
        from chalicelib.local.bootstrap import bootstrap

        bootstrap()
        from app import app

        with Client(app, stage_name="dev") as client:
            body = {"email": "bench@example.com", "password": "correct horse battery staple",
                    "birth_date": "1990-01-01", "accept_policy_version": "2025-10-08"}
            headers = {"Content-Type": "application/json"}
            client.http.post("/auth/signup", headers=headers, body=json.dumps(body))

            from chalicelib.models import Throttle

            def forget_failures() -> None:
                # Untimed: keeps the throttle from answering 429 instead of doing the work.
                for row in Throttle.scan():
                    row.delete()

            def attempt(email: str) -> None:
                response = client.http.post("/auth/login", headers=headers, body=json.dumps(
                    {"email": email, "password": "a wrong password"}))
                assert response.status_code == 401, response.status_code

            known = median_ms(lambda: attempt("bench@example.com"), forget_failures)
            unknown = median_ms(lambda: attempt("nobody@example.com"), forget_failures)
    print(f"login, known email, wrong pw     {known:7.1f} ms")
    print(f"login, unknown email             {unknown:7.1f} ms")
    print(f"ratio known/unknown              {known / unknown:7.2f}")


if __name__ == "__main__":
    main()
