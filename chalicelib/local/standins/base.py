"""What the engines' stand-ins share: a threaded HTTP server on loopback, scripted answers,
a log of what was asked, jobs that finish on their own, signed webhooks delivered with
retries, and real MP4s from the local renderer.

Tests script a stand-in per request: `standin.script("submit", Reply(503))` makes the next
submit answer 503; `Reply(hang=2)` answers late, `Reply(cut=True)` reads the request and
hangs up without answering. `standin.plan(JobPlan(...))` shapes the next job: fail it, never
finish it, truncate its download, put its result on another host, or send its webhook twice,
late, early, stale, tampered or signed with an unknown key.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
import urllib.request
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any
from urllib.parse import parse_qsl, urlsplit

Renderer = Callable[[str, int, int, int], bytes]  # prompt, seconds, width, height -> MP4


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: Any = None  # JSON-able, or bytes sent as they are
    headers: dict[str, str] = field(default_factory=dict)
    hang: float = 0.0  # seconds to wait before answering
    cut: bool = False  # read the request, then close without answering


@dataclass(frozen=True)
class JobPlan:
    outcome: str = "ok"  # "ok", "fail" (the engine fails it) or "never" (it never finishes)
    error: str = "The model could not make this video."
    seconds: float = 0.3  # how long it runs once rendered
    result_url: str | None = None  # a result on another host (a private address, say)
    truncate: bool = False  # the download stops halfway, under a full Content-Length
    webhook_copies: int = 1  # 2: a duplicated delivery
    webhook_delay: float = 0.0  # a late one
    early_webhook: bool = False  # one more, sent as soon as the job is taken
    stale: bool = False  # signed with a timestamp 10 minutes old
    tampered: bool = False  # body changed after signing
    unknown_key: bool = False  # signed with a key the JWKS does not hold (fal)


@dataclass
class Seen:
    step: str
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Job:
    id: str
    plan: JobPlan
    input: dict[str, Any]
    webhook: str | None
    app: str = ""  # fal's owner/alias
    model: str = ""  # Replicate's owner/name
    video: bytes | None = None
    finished_at: float | None = None
    canceled: bool = False
    deliveries: list[int] = field(default_factory=list)  # HTTP statuses of webhook attempts

    @property
    def done(self) -> bool:
        return self.canceled or (self.finished_at is not None and time.monotonic() >= self.finished_at)


def render_mp4(prompt: str, seconds: int, width: int, height: int) -> bytes:
    """A real H.264 MP4 of the asked length and size, from the local renderer."""
    from chalicelib.local import renderer  # av, numpy, Pillow: loaded only when a video is made

    with TemporaryDirectory() as directory:
        request = renderer.RenderRequest(prompt or "stand-in", seconds, width, height)
        video, _ = renderer.render(request, Path(directory))
        return video.read_bytes()


class StandIn:
    """A loopback server; subclasses answer `route(method, path, query, headers, body)`."""

    engine = "engine"

    def __init__(self, port: int = 0, render: Renderer = render_mp4, retry_seconds: float = 0.5) -> None:
        self.render = render
        self.retry_seconds = retry_seconds
        self.seen: list[Seen] = []
        self.jobs: dict[str, Job] = {}
        self.lock = threading.Lock()
        self._script: dict[str, deque[Reply]] = {}
        self._plans: deque[JobPlan] = deque()
        self._server = ThreadingHTTPServer(("127.0.0.1", port), _handler(self))
        self._server.daemon_threads = True
        # A short poll, so that closing a stand-in (once per test) takes no half second.
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> StandIn:
        self._thread.start()
        return self

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> StandIn:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def script(self, step: str, *replies: Reply) -> None:
        """The next requests of this step get these answers, in order, instead of the usual."""
        with self.lock:
            self._script.setdefault(step, deque()).extend(replies)

    def plan(self, *plans: JobPlan) -> None:
        """The next jobs submitted follow these plans, in order; later ones the default."""
        with self.lock:
            self._plans.extend(plans)

    def steps(self, step: str) -> list[Seen]:
        return [seen for seen in self.seen if seen.step == step]

    def scripted(self, step: str) -> Reply | None:
        with self.lock:
            queue = self._script.get(step)
            return queue.popleft() if queue else None

    def next_plan(self) -> JobPlan:
        with self.lock:
            return self._plans.popleft() if self._plans else JobPlan()

    # --- jobs ------------------------------------------------------------------------------

    def start_job(self, job: Job, prompt: str, seconds: int, width: int, height: int) -> None:
        self.jobs[job.id] = job
        if job.plan.early_webhook:
            self.deliver(job, early=True)
        threading.Thread(target=self._run, args=(job, prompt, seconds, width, height), daemon=True).start()

    def _run(self, job: Job, prompt: str, seconds: int, width: int, height: int) -> None:
        if job.plan.outcome == "never":
            return
        if job.plan.outcome == "ok":
            job.video = self.render(prompt, seconds, width, height)
        job.finished_at = time.monotonic() + job.plan.seconds
        time.sleep(job.plan.seconds)
        if not job.canceled:
            self.deliver(job)

    def deliver(self, job: Job, early: bool = False) -> None:
        """POSTs the job's signed webhook, retrying on anything but 2xx (10 attempts)."""
        if not job.webhook:
            return
        copies = 1 if early else job.plan.webhook_copies

        def send() -> None:
            time.sleep(0 if early else job.plan.webhook_delay)
            for _ in range(copies):
                for attempt in range(10):
                    body, headers = self.webhook(job)
                    status = _post(job.webhook or "", body, headers)
                    job.deliveries.append(status)
                    if 200 <= status < 300:
                        break
                    time.sleep(self.retry_seconds * min(2**attempt, 8))

        threading.Thread(target=send, daemon=True).start()

    def webhook(self, job: Job) -> tuple[bytes, dict[str, str]]:
        raise NotImplementedError

    def step(self, method: str, path: str) -> str:
        """The name tests script and count requests by: "submit", "status", "media" ..."""
        raise NotImplementedError

    def answer(self, step: str, path: str, query: dict[str, str], headers: dict[str, str],
               body: bytes) -> Reply:
        raise NotImplementedError

    def media(self, job_id: str) -> Reply:
        job = self.jobs.get(job_id)
        if job is None or job.video is None:
            return Reply(404, {"detail": "Not found"})
        data = job.video
        if job.plan.truncate:
            return Reply(200, data[: len(data) // 2],
                         {"Content-Type": "video/mp4", "Content-Length": str(len(data))})
        return Reply(200, data, {"Content-Type": "video/mp4"})


def size_of(ratio: str | None, resolution: str | None) -> tuple[int, int]:
    """Our WIDTHxHEIGHT back from an engine's aspect ratio and resolution."""
    short = int((resolution or "720p").rstrip("p") or 720)
    long_side = short * 16 // 9
    return {"9:16": (short, long_side), "1:1": (short, short)}.get(ratio or "16:9", (long_side, short))


def _post(url: str, body: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310 - loopback
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return 0


def _handler(standin: StandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _serve(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {name: value for name, value in self.headers.items()}
            step = standin.step(self.command, parts.path)
            standin.seen.append(Seen(step, self.command, self.path, headers, body))
            reply = standin.scripted(step) or standin.answer(
                step, parts.path, dict(parse_qsl(parts.query)), headers, body)
            if reply.cut:
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            time.sleep(reply.hang)
            data = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
            self.send_response(reply.status)
            sent = {name.lower() for name in reply.headers}
            for name, value in reply.headers.items():
                self.send_header(name, value)
            if "content-type" not in sent:
                self.send_header("Content-Type", "application/json")
            if "content-length" not in sent:
                self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            with contextlib.suppress(OSError):
                self.wfile.write(data)
            if "content-length" in sent:
                self.close_connection = True  # a truncated answer ends with the connection

        do_GET = do_POST = do_PUT = _serve

    return Handler
