"""Running a stand-in alone, for `make run`: it prints the environment that points the app at it.
Credentials already in the environment (FAL_KEY, REPLICATE_API_TOKEN, REPLICATE_WEBHOOK_SECRET)
are kept, so the app and the stand-in can be started from one set of variables."""

from __future__ import annotations

import argparse
import threading
from collections.abc import Callable
from typing import Any

from chalicelib.local.standins.base import StandIn


def serve(kind: Callable[..., StandIn], engine: str, argv: list[str] | None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m chalicelib.local.standins.{engine}",
                                     description=f"A loopback stand-in for {engine}'s API.")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: any free one)")
    port = parser.parse_args(argv).port
    standin: Any = kind(port=port)
    standin.start()
    print(" ".join(f"{name}={value}" for name, value in standin.env().items()), flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        standin.close()
    return 0
