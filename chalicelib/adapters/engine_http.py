"""The HTTP both hosted engines (fal, Replicate) are spoken over: urllib3, already in the package
(botocore brings it), with explicit timeouts and the error mapping failover rests on.

A submit is never retried: a second POST could make a second paid job. Reads (status, result)
retry twice on 429/502/503/504 and on connection errors, with a short bounded backoff.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import urllib3
from urllib3.exceptions import ConnectTimeoutError, HTTPError, ProtocolError, ReadTimeoutError

from chalicelib.adapters.video import ProviderRefused, ProviderUnavailable, SubmitUnknown


@dataclass(frozen=True)
class Timeouts:
    """Seconds to connect, and to wait for each read of a submit's answer and of a read's."""

    connect: float = 5.0
    submit: float = 30.0
    read: float = 15.0


_READ_RETRIES = urllib3.Retry(
    total=2, connect=2, read=1, status=2, backoff_factor=0.3, backoff_max=2.0,
    status_forcelist=(429, 502, 503, 504), allowed_methods=frozenset({"GET"}),
    # A Retry-After of minutes would hold the worker; the re-check message comes back anyway.
    respect_retry_after_header=False, raise_on_status=False, redirect=0,
)


def pool() -> urllib3.PoolManager:
    return urllib3.PoolManager(num_pools=4, maxsize=2, retries=False)


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any  # parsed JSON, or None when the body is not JSON
    headers: Mapping[str, str]


class EngineHTTP:
    def __init__(self, engine: str, headers: Mapping[str, str], http: urllib3.PoolManager,
                 timeouts: Timeouts | None = None) -> None:
        self._engine = engine
        self._headers = dict(headers)
        self._http = http
        seconds = timeouts or Timeouts()
        self._submit_timeout = urllib3.Timeout(connect=seconds.connect, read=seconds.submit)
        self._read_timeout = urllib3.Timeout(connect=seconds.connect, read=seconds.read)

    def submit(self, url: str, payload: Mapping[str, Any], refusal: Any) -> Any:
        """POSTs a new job once; returns the JSON of a 2xx answer. `refusal(answer)` words a
        400/422 for the user."""
        # A connection kept from an earlier call may have been closed by the engine meanwhile;
        # sending on it fails in a way that looks like a lost answer. A fresh one does not.
        self._http.clear()
        try:
            response = self._http.request(
                "POST", url, body=json.dumps(payload).encode(), timeout=self._submit_timeout, retries=False,
                headers={**self._headers, "Content-Type": "application/json"},
            )
        except ConnectTimeoutError as error:  # refused, unresolvable, or no connection in time
            raise ProviderUnavailable(f"{self._engine} could not be reached: {_reason(error)}") from None
        except (ReadTimeoutError, ProtocolError, HTTPError) as error:
            raise SubmitUnknown(
                f"{self._engine} did not answer the submit: {_reason(error)}; it may have taken the job"
            ) from None
        answer = _answer(response)
        if 200 <= answer.status < 300:
            if not isinstance(answer.body, dict):
                raise SubmitUnknown(f"{self._engine} answered the submit with something that is not JSON")
            return answer.body
        if answer.status in (400, 422):
            raise ProviderRefused(refusal(answer))
        # 401/403 (our key), 404 (a model it does not serve here), 429, 5xx: not the user's
        # request, so another route may take it.
        raise ProviderUnavailable(f"{self._engine} did not take the job: {_summary(answer)}")

    def read(self, method: str, url: str) -> Answer:
        """A GET (retried) or a cancel (not retried, but harmless to repeat by hand)."""
        retries = _READ_RETRIES if method == "GET" else False
        try:
            response = self._http.request(method, url, headers=self._headers, timeout=self._read_timeout,
                                          retries=retries)
        except HTTPError as error:
            raise ProviderUnavailable(f"{self._engine} could not be reached: {_reason(error)}") from None
        answer = _answer(response)
        if answer.status == 429 or answer.status >= 500 or answer.status in (401, 403):
            raise ProviderUnavailable(f"{self._engine} answered {_summary(answer)}")
        return answer


def _answer(response: urllib3.BaseHTTPResponse) -> Answer:
    text = response.data.decode("utf-8", "replace")
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    return Answer(response.status, body, response.headers)


def _summary(answer: Answer) -> str:
    detail = answer.body.get("detail") if isinstance(answer.body, dict) else None
    return f"HTTP {answer.status}" + (f" ({str(detail)[:200]})" if detail else "")


def _reason(error: Exception) -> str:
    reason = getattr(error, "reason", None) or error
    return f"{reason.__class__.__name__}: {str(reason)[:200]}"
