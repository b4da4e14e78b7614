"""`chalice local` as `make run` starts it, with a listen queue for a burst of clients.

Python's HTTP servers keep 5 connections waiting to be accepted; a page that opens a dozen at
once, or a load run of 24 clients, overflows that and the kernel resets the rest. API Gateway
never does, so the local API should not either.

    python -m chalicelib.local.api local --host 127.0.0.1 --port 8001 --stage dev --no-autoreload
"""

from __future__ import annotations

import sys

from chalice import local
from chalice.cli import main

LISTEN_BACKLOG = 128

if __name__ == "__main__":
    local.ThreadedHTTPServer.request_queue_size = LISTEN_BACKLOG
    sys.exit(main())
