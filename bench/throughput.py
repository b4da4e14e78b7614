"""In-process requests per second of GET /videos/{id} (chalice's test client, moto in-process),
beside a bare Chalice route that returns a constant through the same test client: what one
request costs the app over Chalice's own dispatch. The share spent inside the AWS call (the
SDK and moto, timed with botocore's before-call and after-call hooks) says how much of it is
the stand-in for DynamoDB rather than the app.

    make bench        (or: .venv/bin/python bench/throughput.py)
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench import table, world
from bench.table import FAIL, Row

TITLE = "in-process requests per second (chalice test client; moto in-process)"
SECONDS = 3.0


def rate(request: Callable[[], Any]) -> float:
    """Requests per second over SECONDS, after a few untimed ones."""
    for _ in range(20):
        request()
    done = 0
    started = time.perf_counter()
    while (elapsed := time.perf_counter() - started) < SECONDS:
        request()
        done += 1
    return done / elapsed


def bare_app() -> Any:
    from chalice import Chalice

    bare = Chalice(app_name="bare")

    @bare.route("/constant")
    def constant() -> dict[str, str]:
        return {"status": "ok"}

    return bare


def measure() -> list[Row]:
    from chalice.test import Client

    with Client(bare_app()) as client:
        def constant() -> None:
            assert client.http.get("/constant").status_code == 200

        bare_rate = rate(constant)

    with world.in_process_aws():
        from app import app
        from chalicelib.services import policy

        with Client(app, stage_name="dev") as client:
            headers = {"Content-Type": "application/json"}
            body = {"email": "rate@example.com", "password": world.PASSWORD, "birth_date": "1990-01-01",
                    "accept_policy_version": policy.in_force().version}
            token = json.loads(client.http.post("/auth/signup", headers=headers,
                                                body=json.dumps(body)).body)["access_token"]
            headers["Authorization"] = f"Bearer {token}"
            video = json.loads(client.http.post("/videos", headers=headers, body=json.dumps(
                {"prompt": "a kite over a beach", "seconds": 4, "size": "720x1280"})).body)
            statuses: set[int] = set()

            def get_video() -> None:
                statuses.add(client.http.get(f"/videos/{video['id']}", headers=headers).status_code)

            in_aws = {"seconds": 0.0, "calls": 0}
            started: list[float] = []

            def before(**_: Any) -> None:
                started.append(time.perf_counter())

            def after(**_: Any) -> None:
                in_aws["seconds"] += time.perf_counter() - started.pop()
                in_aws["calls"] += 1

            app_rate = rate(get_video)
            with world.hooked("before-call", before), world.hooked("after-call", after):
                timed = time.perf_counter()
                for _ in range(200):
                    get_video()
                share = in_aws["seconds"] / (time.perf_counter() - timed)
    ratio = app_rate / bare_rate
    detail = (f"{share:.0%} of a request inside the AWS call (SDK + moto); "
              f"{app_rate / (1 - share):.0f}/s without it")
    return [
        Row("GET /videos/{video_id}", f"{app_rate:.0f} req/s", f"bare route: {bare_rate:.0f} req/s",
            f"{ratio:.3f}x (1/{1 / ratio:.0f})", table.INFO if statuses == {200} else FAIL,
            detail if statuses == {200} else f"answered {sorted(statuses)}"),
    ]


if __name__ == "__main__":
    table.main(TITLE, measure)
