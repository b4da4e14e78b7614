"""The local front door on 127.0.0.1:8000: the web client's static files and the API on one
origin, as a CDN in front of API Gateway would serve them in production.

`/` and `/assets/...` come from web/; every other path is passed to `chalice local`, which
listens on an internal port. No CORS is needed for the API, because the browser sees one origin.
The one cross-origin call is a reference image's upload, a presigned POST straight to the
bucket (the embedded AWS on its own port): the page's policy lets it connect there and nowhere
else, and bootstrap.py puts a CORS rule for this origin on the local bucket.
"""

from __future__ import annotations

import http.client
import mimetypes
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

WEB = Path(__file__).resolve().parents[2] / "web"
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
               "proxy-authorization", "proxy-authenticate"}
_MAX_BODY = 12 * 1024 * 1024


def _static_file(path: str) -> Path | None:
    """The file under web/ for a request path, or None when the path is the API's."""
    clean = path.split("?", 1)[0].split("#", 1)[0]
    if clean in ("/", "/index.html"):
        candidate = WEB / "index.html"
    elif clean.startswith("/assets/"):
        candidate = (WEB / clean.lstrip("/")).resolve()
        if WEB.resolve() not in candidate.parents:
            return None  # ../ tricks
    else:
        return None
    return candidate if candidate.is_file() else None


def storage_origin(endpoint_url: str | None) -> str | None:
    """The embedded AWS's origin (http://127.0.0.1:<port>), where presigned uploads go; None
    unless it is a loopback address."""
    if not endpoint_url:
        return None
    parts = urlsplit(endpoint_url)
    if parts.scheme != "http" or parts.hostname not in ("127.0.0.1", "localhost") or not parts.port:
        return None
    return f"http://{parts.hostname}:{parts.port}"


def content_security_policy(storage: str | None) -> str:
    connect = "'self'" + (f" {storage}" if storage else "")
    return ("default-src 'self'; img-src 'self' data: http://127.0.0.1:*; "
            f"media-src 'self' http://127.0.0.1:*; connect-src {connect}; "
            "form-action 'self'; base-uri 'none'; object-src 'none'; frame-ancestors 'none'")


def make_handler(api_port: int, storage: str | None = None) -> type[BaseHTTPRequestHandler]:
    policy = content_security_policy(storage)

    class Front(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "aisora-local"

        def log_message(self, format: str, *args: object) -> None:
            return  # chalice local logs the API requests; static files need no log

        def _serve_static(self, file: Path, head: bool) -> None:
            body = file.read_bytes()
            kind = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
            if kind.startswith("text/") or kind in ("application/javascript", "application/json"):
                kind += "; charset=utf-8"
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-cache")
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("Content-Security-Policy", policy)
            self.end_headers()
            if not head:
                self.wfile.write(body)

        def _proxy(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > _MAX_BODY:
                self.send_error(413, "request body too large")
                return
            body = self.rfile.read(length) if length else None
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
            upstream = http.client.HTTPConnection("127.0.0.1", api_port, timeout=60)
            try:
                upstream.request(self.command, self.path, body=body, headers=headers)
                answer = upstream.getresponse()
                payload = answer.read()
            except OSError:
                self.send_error(502, "the local API is not answering")
                return
            finally:
                upstream.close()
            self.send_response(answer.status, answer.reason)
            for key, value in answer.getheaders():
                if key.lower() not in _HOP_BY_HOP and key.lower() != "content-length":
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        def _handle(self) -> None:
            file = _static_file(self.path) if self.command in ("GET", "HEAD") else None
            if file is not None:
                self._serve_static(file, head=self.command == "HEAD")
            else:
                self._proxy()

        do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _handle

    return Front


class _FrontDoor(ThreadingHTTPServer):
    daemon_threads = True
    # Python's default keeps 5 connections waiting; a burst of clients would be reset.
    request_queue_size = 128


def start(port: int, api_port: int, storage: str | None = None) -> ThreadingHTTPServer:
    """Serves on `port`; `storage` defaults to the embedded AWS named by AWS_ENDPOINT_URL."""
    storage = storage or storage_origin(os.environ.get("AWS_ENDPOINT_URL"))
    server = _FrontDoor(("127.0.0.1", port), make_handler(api_port, storage))
    threading.Thread(target=server.serve_forever, name="front", daemon=True).start()
    return server
