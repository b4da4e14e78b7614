"""A bounded load run on loopback against the real `make run` stack: the stack starts as a new
user starts it (`python -m chalicelib.local.stack`, on free ports), CLIENTS concurrent clients
each sign up, sign in and ask for one video through the front door's HTTP API, then list their
videos and follow theirs until it is made (or DEADLINE passes), and the stack stops on Ctrl-C.

    make bench        (or: .venv/bin/python bench/load.py)

The clients start together (a barrier), as a burst. Latency p50 and p99 (nearest rank) per
operation, beside GET /health asked by the same clients meanwhile (the front door and
`chalice local` with no work behind them). Any failed request is an error: the
run fails unless there are none, and unless the stack stops cleanly (exit 0, nothing it
started left running).
"""

from __future__ import annotations

import collections
import contextlib
import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench import table
from bench.table import FAIL, Row
from chalicelib.services import policy

ROOT = Path(__file__).resolve().parents[1]
TITLE = "load on loopback (the make run stack; front door HTTP API)"
CLIENTS = 24
DEADLINE = 120.0  # seconds from the first request; no request starts after it
THINK = 0.2  # seconds between a client's rounds of requests
REQUEST_TIMEOUT = 90.0
READY_TIMEOUT = 90.0
STOP_TIMEOUT = 30.0
PASSWORD = "correct horse battery staple"  # noqa: S105 - the load's accounts, in the stack's moto
OPERATIONS = ("POST /auth/signup", "POST /auth/verify-email", "POST /auth/login", "POST /videos",
              "GET /videos", "GET /videos/{video_id}")
REFERENCE = "GET /health"


class Stack:
    """`make run`'s stack in its own session, so that whatever it starts can be found after."""

    def __init__(self) -> None:
        from chalicelib.local.embedded_aws import free_port

        self.api_port, self.moto_port = free_port(), free_port()
        env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG") if k in os.environ}
        env.update(API_PORT=str(self.api_port), MOTO_PORT=str(self.moto_port),
                   # Every client of the run signs up from this one address.
                   SIGNUPS_PER_ADDRESS_HOUR=str(10 * CLIENTS))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "chalicelib.local.stack"], cwd=ROOT, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True, text=True,
        )
        self.output: collections.deque[str] = collections.deque(maxlen=200)
        self.ready = threading.Event()
        # Drained all along: the stack prints every mail it sends, and a full pipe would stall it.
        threading.Thread(target=self._drain, name="stack-output", daemon=True).start()

    def _drain(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)
            if "Press Ctrl-C" in line:
                self.ready.set()

    def wait_ready(self) -> bool:
        stop_at = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < stop_at and self.process.poll() is None:
            if self.ready.wait(0.2):
                return True
        return False

    def stop(self) -> tuple[int | None, float, int]:
        """Ctrl-C, as a terminal sends it (to the whole foreground group); returns (exit code,
        seconds to exit, processes of its session still running STOP_TIMEOUT seconds later,
        which are then ended)."""
        started = time.monotonic()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGINT)
        try:
            code: int | None = self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            code = None
        seconds = time.monotonic() - started
        left = self._session_processes()
        stop_at = time.monotonic() + STOP_TIMEOUT
        while left and time.monotonic() < stop_at:
            time.sleep(0.2)
            left = self._session_processes()
        if left or code is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)  # only the session this bench started
            self.process.wait(timeout=10)
        return code, seconds, len(left)

    def _session_processes(self) -> list[int]:
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                # After ")": state, ppid, pgrp, session; a zombie has already ended.
                if int(fields[3]) == self.process.pid and fields[0] != "Z":
                    found.append(int(entry.name))
        return found

    def tail(self, lines: int = 3) -> str:
        return " / ".join(line.strip() for line in list(self.output)[-lines:])


@dataclass
class Results:
    latencies: dict[str, list[float]] = field(default_factory=lambda: collections.defaultdict(list))
    errors: list[str] = field(default_factory=list)
    completed: list[float] = field(default_factory=list)  # seconds from POST /videos to completed
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, operation: str, seconds: float, error: str | None) -> None:
        with self.lock:
            self.latencies[operation].append(seconds)
            if error:
                self.errors.append(f"{operation}: {error}")


class Client:
    """One person, over HTTP, as the web client would do it."""

    def __init__(self, base: str, mailbox: str, results: Results, deadline: float) -> None:
        self.base, self.mailbox, self.results, self.deadline = base, mailbox, results, deadline
        self.token: str | None = None

    def verification_token(self, email: str) -> str | None:
        """The token of the verification link mailed to `email`, from the stack's embedded
        SES (moto's data page lists what it sent), as the person would open it."""
        stop_at = time.monotonic() + REQUEST_TIMEOUT
        while time.monotonic() < stop_at:
            with urllib.request.urlopen(self.mailbox, timeout=REQUEST_TIMEOUT) as response:  # noqa: S310
                messages = json.load(response).get("ses", {}).get("Message", [])
            for message in messages:
                if email in message.get("destinations", {}).get("ToAddresses", []):
                    body = message.get("body") or ""
                    if "verify-email?token=" in body:
                        return body.split("verify-email?token=", 1)[1].split()[0]
            time.sleep(THINK)
        with self.results.lock:
            self.results.errors.append(f"no verification mail to {email}")
        return None

    def call(self, operation: str, path: str, expected: int, body: dict[str, Any] | None = None) -> Any:
        method = operation.split()[0]
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(f"{self.base}{path}", method=method, headers=headers,  # noqa: S310
                                         data=json.dumps(body).encode() if body is not None else None)
        started = time.perf_counter()
        error, answer = None, None
        try:
            with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT) as response:  # noqa: S310 - loopback
                status, answer = response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            status = exc.code
            error = f"{status} {exc.read()[:200].decode(errors='replace')}"
        except (OSError, ValueError) as exc:
            status, error = 0, f"{type(exc).__name__}: {exc}"
        if error is None and status != expected:
            error = f"{status}, expected {expected}"
        self.results.record(operation, time.perf_counter() - started, error)
        return answer if error is None else None

    def run(self, start: threading.Barrier) -> None:
        email = f"load-{uuid.uuid4().hex[:12]}@example.com"
        start.wait()
        signup = {"email": email, "password": PASSWORD, "birth_date": "1990-01-01",
                  "accept_policy_version": policy.in_force().version}
        if not self.call("POST /auth/signup", "/auth/signup", 201, signup):
            return
        # The free credits are usable once the address is confirmed.
        token = self.verification_token(email)
        if not token or not self.call("POST /auth/verify-email", "/auth/verify-email", 200, {"token": token}):
            return
        tokens = self.call("POST /auth/login", "/auth/login", 200, {"email": email, "password": PASSWORD})
        if not tokens:
            return
        self.token = tokens["access_token"]
        asked = time.monotonic()
        video = self.call("POST /videos", "/videos", 202,
                          {"prompt": f"A paper boat on a pond, take {email[5:11]}", "seconds": 4,
                           "size": "720x1280"})
        if not video:
            return
        while time.monotonic() < self.deadline:
            self.call("GET /videos", "/videos", 200)
            self.call(REFERENCE, "/health", 200)
            view = self.call("GET /videos/{video_id}", f"/videos/{video['id']}", 200)
            if view and view["status"] == "completed":
                with self.results.lock:
                    self.results.completed.append(time.monotonic() - asked)
                return
            if view and view["status"] not in ("queued", "submitting", "in_progress"):
                with self.results.lock:
                    self.results.errors.append(f"video ended {view['status']}: {view.get('error')}")
                return
            time.sleep(THINK)


def percentile(samples: list[float], fraction: float) -> float:
    """Nearest rank: the smallest sample with at least `fraction` of them at or below it."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def spread(samples: list[float]) -> str:
    return f"p50 {table.duration(percentile(samples, 0.5))}, p99 {table.duration(percentile(samples, 0.99))}"


def drive(base: str, mailbox: str, results: Results) -> float:
    """The clients, started together; returns the seconds from the first request to the last."""
    started = time.monotonic()
    barrier = threading.Barrier(CLIENTS)
    threads = [threading.Thread(target=Client(base, mailbox, results, started + DEADLINE).run,
                                args=(barrier,), name=f"client-{n}") for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(DEADLINE + 2 * REQUEST_TIMEOUT)
    return time.monotonic() - started


def measure() -> list[Row]:
    stack = Stack()
    results = Results()
    try:
        ready = stack.wait_ready()
        mailbox = f"http://127.0.0.1:{stack.moto_port}/moto-api/data.json"
        elapsed = drive(f"http://127.0.0.1:{stack.api_port}", mailbox, results) if ready else 0.0
    finally:
        code, stop_seconds, left = stack.stop()
    if not ready:
        return [Row("the stack gets ready", "no", verdict=FAIL, detail=stack.tail())]

    reference = results.latencies[REFERENCE]
    rows = []
    for operation in OPERATIONS:
        samples = results.latencies[operation]
        if not samples:
            rows.append(Row(operation, "-", verdict=FAIL, detail="no request was made"))
            continue
        ratio = percentile(samples, 0.5) / percentile(reference, 0.5) if reference else math.nan
        rows.append(Row(operation, spread(samples), f"{REFERENCE}: {spread(reference)}" if reference else "",
                        f"{table.times(ratio)} at p50", detail=f"{len(samples)} requests"))
    total = sum(len(s) for s in results.latencies.values())
    made, asked = results.completed, len(results.latencies["POST /videos"])
    rows += [
        Row("videos made (asked to completed)", f"{len(made)} of {asked}", "", "all, by the deadline",
            table.verdict(len(made) == asked), spread(made) if made else "none finished"),
        Row("errors", f"{len(results.errors)} of {total} requests", "", "goal 0",
            table.OK if not results.errors else FAIL,
            "; ".join(f"{n} x {error}" for error, n in collections.Counter(results.errors).most_common(3))),
        Row("throughput", f"{total / elapsed:.0f} req/s", "", "",
            detail=f"{CLIENTS} clients, {elapsed:.0f} s, {THINK * 1000:.0f} ms between a client's rounds"),
        Row("stack stops on Ctrl-C", f"exit {code} in {stop_seconds:.1f} s", "", "exit 0, nothing left",
            table.OK if code == 0 and not left else FAIL,
            f"{left} process(es) it started still ran {STOP_TIMEOUT:.0f} s later" if left else ""),
    ]
    return rows


if __name__ == "__main__":
    table.main(TITLE, measure)
