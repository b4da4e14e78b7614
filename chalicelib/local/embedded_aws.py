"""A moto server of one's own on a free loopback port, for the benches and for tests that must
not share the in-process moto (memory measured apart, or one request at a time)."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator

# werkzeug's server with threads off: requests are handled one at a time, in arrival order.
_ONE_AT_A_TIME = """
import sys
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple
run_simple("127.0.0.1", int(sys.argv[1]), DomainDispatcherApplication(create_backend_app), threaded=False)
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until_answering(url: str, seconds: float = 10.0,
                         process: subprocess.Popen[bytes] | None = None) -> None:
    """Returns once `url` answers; raises RuntimeError when it does not in time, or when
    `process`, the one meant to answer, has exited."""
    stop_at = time.monotonic() + seconds
    while time.monotonic() < stop_at:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{' '.join(map(str, process.args[:3]))} exited early")
        try:
            with urllib.request.urlopen(url, timeout=1):  # noqa: S310 - loopback only
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {seconds:.0f}s")


@contextlib.contextmanager
def moto_server(one_at_a_time: bool = False) -> Iterator[str]:
    """Yields the server's endpoint URL; stops the server on exit."""
    port = free_port()
    argv = ([sys.executable, "-c", _ONE_AT_A_TIME, str(port)] if one_at_a_time
            else [sys.executable, "-m", "moto.server", "-p", str(port)])
    server = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until_answering(f"http://127.0.0.1:{port}/moto-api/")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=10)
