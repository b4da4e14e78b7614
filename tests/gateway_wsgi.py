"""The Chalice app as a WSGI application, for tools that drive WSGI apps in-process (schemathesis).

Each request goes through chalice's LocalGateway, API Gateway's local stand-in that
`chalice.test.Client` and `chalice local` use too: the same Lambda event, the stage's
environment, the gateway's own answers (an OPTIONS preflight, an unknown path). Nothing listens
on a port.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Callable, Iterable
from http import HTTPStatus
from pathlib import Path
from typing import Any
from unittest import mock
from urllib.parse import quote

from chalice import Chalice
from chalice.cli.factory import CLIFactory
from chalice.local import LocalGateway, LocalGatewayException

ROOT = Path(__file__).resolve().parents[1]


def _status_line(code: int) -> str:
    try:
        return f"{code} {HTTPStatus(code).phrase}"
    except ValueError:
        return f"{code} Unknown"


def _raw_target(environ: dict[str, Any]) -> str:
    """The path and query as the client sent them: API Gateway matches routes on the undecoded path."""
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if raw:
        path = str(raw).split("?", 1)[0]
    else:
        # PEP 3333 hands the path over decoded, as latin-1 text; quote it back.
        path = quote(environ.get("PATH_INFO", "").encode("latin-1"), safe="/")
    # Not every server puts the query in RAW_URI (werkzeug's test client leaves out one it
    # was given apart); QUERY_STRING always holds it.
    query = environ.get("QUERY_STRING")
    return f"{path}?{query}" if query else path


def _request_headers(environ: dict[str, Any]) -> dict[str, str]:
    headers = {key[5:].replace("_", "-").lower(): value
               for key, value in environ.items() if key.startswith("HTTP_")}
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(key):
            headers[key.replace("_", "-").lower()] = environ[key]
    return headers


def _response_parts(answer: dict[str, Any]) -> tuple[int, list[tuple[str, str]], bytes]:
    """Status, headers and body of a Lambda proxy response, as API Gateway would send them."""
    headers = [(name, str(value)) for name, value in (answer.get("headers") or {}).items()]
    for name, values in (answer.get("multiValueHeaders") or {}).items():
        headers.extend((name, str(value)) for value in values)
    body = answer.get("body") or ""
    raw = base64.b64decode(body) if answer.get("isBase64Encoded") else body.encode("utf-8")
    return answer["statusCode"], headers, raw


class GatewayWSGI:
    """A WSGI callable answering every request through the app's LocalGateway."""

    def __init__(self, app: Chalice, stage: str = "dev") -> None:
        config = CLIFactory(str(ROOT)).create_config_obj(chalice_stage_name=stage)
        self._environment = config.scope(stage, "api_handler").environment_variables
        self._gateway = LocalGateway(app, config)

    def __call__(self, environ: dict[str, Any],
                 start_response: Callable[[str, list[tuple[str, str]]], Any]) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        with mock.patch.dict(os.environ, self._environment):
            try:
                answer = self._gateway.handle_request(
                    method=environ["REQUEST_METHOD"], path=_raw_target(environ),
                    headers=_request_headers(environ), body=body)
                status, headers, raw = _response_parts(answer)
            except LocalGatewayException as refused:  # the gateway's own 401/403
                status, headers, raw = refused.CODE, list(refused.headers.items()), refused.body or b""
        start_response(_status_line(status), headers)
        return [raw]
