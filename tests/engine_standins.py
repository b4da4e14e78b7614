"""What the engine adapters' tests share: a tiny real MP4, waiting for a job, a webhook receiver."""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from chalicelib.adapters.video import ProviderStatus
from chalicelib.local.standins.base import render_mp4


@functools.cache
def tiny_mp4() -> bytes:
    return render_mp4("a tiny test video", 1, 64, 64)


def tiny_render(prompt: str, seconds: int, width: int, height: int) -> bytes:
    return tiny_mp4()


def wait_for(retrieve: Callable[[], ProviderStatus], state: str, seconds: float = 10.0) -> ProviderStatus:
    deadline = time.monotonic() + seconds
    while True:
        status = retrieve()
        if status.state == state or time.monotonic() > deadline:
            return status
        time.sleep(0.05)


class Receiver:
    """Our side of the webhooks: answers the statuses it is given, in order (then 200)."""

    def __init__(self, *statuses: int) -> None:
        self.statuses = list(statuses)
        self.received: list[tuple[bytes, dict[str, str], str]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.received.append((body, dict(self.headers.items()), self.path))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def wait(self, count: int, seconds: float = 10.0) -> None:
        deadline = time.monotonic() + seconds
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.05)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def closed_port() -> int:
    """A loopback port nothing listens on."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Given:
    """A secret a test holds itself, in place of Settings' `Secret` (read from the environment
    or SSM): the adapters only ever call `reveal()`."""

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value
