"""Logs and metrics: one JSON line per log record, with the invocation's ids and no personal
data, and CloudWatch metrics as embedded-metric-format (EMF) lines on stdout.

In Lambda (`AWS_LAMBDA_FUNCTION_NAME` is set) or with `LOG_FORMAT=json`, every log record is
one JSON object on stdout, written once (the runtime's own handler is replaced), and every
metric is an EMF line that CloudWatch Logs turns into a metric: no client, no API call, no
dependency. Elsewhere (`chalice local`, the local pump, tests) logging stays as the host set it
up, in readable text, and a metric is a DEBUG line.

No line may hold an email, password, token, prompt or client address. The code logs ids and
counts only; the scrubber below is the second line of defence for what slips through (an
exception's text, a library's message), and the libraries that log request bodies at DEBUG
(botocore, pynamodb, the HTTP clients) are held at WARNING.

`install(app)` is the one call app.py makes: it sets up logging once and registers a
middleware that binds the request id (or the SQS message's job/export id) to every line of the
invocation, logs one line per request and per event, and measures each route's latency.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import logging
import math
import os
import re
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, TypeVar

from chalicelib.errors import DomainError

if TYPE_CHECKING:
    from chalice import Chalice

log = logging.getLogger(__name__)

NAMESPACE = "AISora2"
REDACTED = "[redacted]"

# Libraries whose DEBUG (and some INFO) lines carry request bodies, URLs or headers: an item
# with an email (pynamodb, botocore), a prompt (openai over httpx), a customer (stripe).
QUIET_LOGGERS = (
    "boto3", "botocore", "s3transfer", "urllib3", "pynamodb",
    "openai", "httpx", "httpx2", "httpcore", "httpcore2", "stripe",
)

_UNITS = frozenset({
    "Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Count",
    "Percent", "Count/Second", "None",
})

# --- the invocation's fields ----------------------------------------------------------------

_fields: ContextVar[Mapping[str, Any]] = ContextVar("observability_fields", default=MappingProxyType({}))


@contextmanager
def bound(**fields: Any) -> Iterator[None]:
    """Adds fields to every log line (and metric) inside the block; `bind` calls made inside
    end with it too."""
    token = _fields.set({**_fields.get(), **_present(fields)})
    try:
        yield
    finally:
        _fields.reset(token)


def bind(**fields: Any) -> None:
    """Adds fields to the lines that follow, until the enclosing `bound` block (the request's or
    the event's, opened by the middleware) ends. Ids and kinds only, never personal data."""
    _fields.set({**_fields.get(), **_present(fields)})


def current() -> dict[str, Any]:
    return dict(_fields.get())


def _present(fields: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in fields.items() if value is not None}


# --- the scrubber ---------------------------------------------------------------------------

_SENSITIVE_NAME = (
    r"[\w-]*(?:password|passwd|secret|token|api_?key|authorization|cookie|signature)"
    r"|prompt|e-?mail|new_email|pending_email|birth_date|(?:client_|source_?|remote_)?ip"
    r"|x-forwarded-for"
)
_SENSITIVE_KEY = re.compile(rf"(?i)^(?:{_SENSITIVE_NAME})$")
_KEY_VALUE = re.compile(
    rf"""(?ix)
    (?P<key>["']?(?<![\w-])(?:{_SENSITIVE_NAME})["']?\s*[:=]\s*)
    (?P<value>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|[^\s,;&}}\])]+)
    """
)
_JWT = re.compile(r"\beyJ[\w-]+\.[\w-]+\.[\w-]*")
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[\w.~+/=-]+")
_EMAIL = re.compile(r"[\w.%+-]+@[\w-]+(?:\.[\w-]+)+")
# A secret from secrets.token_urlsafe, a session key, a signature: a long run of URL-safe
# characters with both cases. Our ids (hex, UUIDs) are lower case and stay readable.
_TOKEN_LIKE = re.compile(
    r"(?<![\w-])(?=[\w-]*[A-Z])(?=[\w-]*[a-z])[A-Za-z0-9_-]{32,}(?![\w-])"
)
_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w.])")
_IPV6 = re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])")


def _if_address(match: re.Match[str]) -> str:
    try:
        ipaddress.ip_address(match.group(0))
    except ValueError:
        return match.group(0)  # a time such as 12:30:45, a version such as 1.2.3.400
    return REDACTED


def scrub(text: str) -> str:
    """The text with anything that looks like personal data or a credential redacted."""
    text = _JWT.sub(REDACTED, text)
    text = _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    text = _KEY_VALUE.sub(lambda m: m.group("key") + REDACTED, text)
    text = _EMAIL.sub(REDACTED, text)
    text = _TOKEN_LIKE.sub(REDACTED, text)
    text = _IPV4.sub(_if_address, text)
    return _IPV6.sub(_if_address, text)


def scrub_value(value: Any, key: str | None = None) -> Any:
    """A structured value scrubbed: a sensitive key hides its value whole."""
    if key is not None and _SENSITIVE_KEY.match(key):
        return REDACTED
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, Mapping):
        return {str(k): scrub_value(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [scrub_value(v) for v in value]
    return scrub(str(value))


# --- JSON lines -----------------------------------------------------------------------------

# Attributes every LogRecord has; anything else on a record came from `extra=`.
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message", "asctime", "taskName",
}


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, the invocation's fields, the
    record's extras, and the exception if any, all scrubbed."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": scrub(record.getMessage()),
        }
        for key, value in _fields.get().items():
            line[key] = scrub_value(value, key)
        for key, value in vars(record).items():
            if key not in _RECORD_ATTRIBUTES and not key.startswith("_"):
                line[key] = scrub_value(value, key)
        if record.exc_info and record.exc_info[0] is not None:
            line["error_type"] = record.exc_info[0].__name__
            line["exception"] = scrub(self.formatException(record.exc_info))
        if record.stack_info:
            line["stack"] = scrub(self.formatStack(record.stack_info))
        return json.dumps(line, default=str)


class _StdoutHandler(logging.Handler):
    """Writes to whatever sys.stdout is at the time (Lambda sends it to CloudWatch Logs; a
    test's capture sees it), one line per record."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            _write_line(self.format(record))
        except Exception:
            self.handleError(record)


def _write_line(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


_json_lines = False


def json_enabled() -> bool:
    return _json_lines


def _wants_json() -> bool:
    # Read here rather than through config.settings(): logging must work even when a required
    # setting is missing, to say so.
    chosen = os.environ.get("LOG_FORMAT", "").strip().lower()
    if chosen in ("json", "text"):
        return chosen == "json"
    return bool(os.environ.get("AWS_LAMBDA_FUNCTION_NAME"))


def configure_logging(json_lines: bool | None = None, app_log: logging.Logger | None = None) -> None:
    """Sets up logging for this process; calling it again sets it up the same way, never twice.

    JSON: the root logger gets one handler (the Lambda runtime's own is removed, or every line
    would be written twice), at LOG_LEVEL (INFO by default); Chalice's app logger, which has a
    text handler of its own, goes through the root's instead. Text: handlers are left as the
    host set them. Either way the libraries that log bodies stay at WARNING.
    """
    global _json_lines
    _json_lines = _wants_json() if json_lines is None else json_lines
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    if not _json_lines:
        return
    handler = _StdoutHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    level = os.environ.get("LOG_LEVEL", "INFO").strip().upper()
    root.setLevel(level if isinstance(logging.getLevelName(level), int) else logging.INFO)
    if app_log is not None:
        for old in list(app_log.handlers):
            app_log.removeHandler(old)
        app_log.propagate = True


# --- metrics --------------------------------------------------------------------------------


def metric(name: str, value: float, unit: str = "Count", /, **dimensions: str) -> None:
    """One value of one CloudWatch metric, e.g. `metric("VideosFailed", 1, "Count", reason=code)`.

    Published twice over: per stack alone (the total) and per stack and the given dimensions.
    The stack is RESOURCE_PREFIX, which is the CloudFormation stack's name (its tables are named
    after it), so that the template's alarms can name it as `${AWS::StackName}`.
    Dimension values are our own kinds and codes, never a person's data.
    """
    emit({name: (value, unit)}, **dimensions)


def emit(values: Mapping[str, tuple[float, str]], /, **dimensions: str) -> None:
    """Several metrics sharing the same dimensions, as one EMF document."""
    for name, (value, unit) in values.items():
        if unit not in _UNITS:
            raise ValueError(f"{unit!r} is not a CloudWatch unit (metric {name})")
        if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
            raise ValueError(f"metric {name} needs a finite number, got {value!r}")
    names = {key: str(value)[:250] for key, value in dimensions.items()}
    if not _json_lines:
        log.debug("metric %s %s", {k: v for k, (v, _) in values.items()}, names)
        return
    stack = os.environ.get("RESOURCE_PREFIX") or "local"
    dimension_sets = [["stack"], ["stack", *names]] if names else [["stack"]]
    document: dict[str, Any] = {
        # The invocation's ids make a metric line findable next to its log lines.
        **{key: scrub_value(value, key) for key, value in _fields.get().items()},
        "_aws": {
            "Timestamp": int(time.time() * 1000),
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": dimension_sets,
                "Metrics": [{"Name": name, "Unit": unit} for name, (_, unit) in values.items()],
            }],
        },
        "stack": stack,
        **names,
        **{name: value for name, (value, _) in values.items()},
    }
    _write_line(json.dumps(document, default=str))


F = TypeVar("F", bound=Callable[..., Any])


def _outcome_name(result: object) -> str:
    """'clawed back 3' -> 'clawed_back', 'plan basic' -> 'plan_basic': few values, no amounts."""
    words = [w for w in str(result).split() if not w.isdigit()]
    return "_".join(words)[:64] or "none"


def counted(name: str, /, **dimensions: str) -> Callable[[F], F]:
    """Counts each call as one `name`, by event type and outcome.

    The outcome is the string the function returns (digits dropped), or the domain error's code
    when it raises one ("bad_signature"), else "error". The type is the `event_type` the
    function bound while it ran, else "unverified" (it failed before reading one).
    """

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with bound():
                outcome = "error"
                try:
                    result = func(*args, **kwargs)
                    outcome = _outcome_name(result)
                    return result
                except DomainError as exc:
                    outcome = exc.code
                    raise
                finally:
                    event_type = str(_fields.get().get("event_type") or "unverified")
                    metric(name, 1, "Count", **dimensions, type=event_type, outcome=outcome)

        return wrapper  # type: ignore[return-value]

    return decorate


# --- the middleware -------------------------------------------------------------------------


class EventFailed(Exception):
    """Raised in place of a failed event's own exception, whose text may hold personal data
    (Lambda's runtime prints it unscrubbed); the scrubbed traceback is on the logged line."""


def install(app: Chalice) -> None:
    """Sets up logging and registers the middleware for every kind of event."""
    configure_logging(app_log=app.log)
    app.register_middleware(_middleware, "all")


def _middleware(event: Any, get_response: Callable[[Any], Any]) -> Any:
    from chalice.app import Request  # only the edge knows Chalice's types

    if isinstance(event, Request):
        return _on_request(event, get_response)
    return _on_event(event, get_response)


def _line_level() -> int:
    # The per-request and per-event lines are for CloudWatch; under `make run` a text line a
    # second per queue message, without its fields, would bury the mail and errors printed there.
    return logging.INFO if _json_lines else logging.DEBUG


def _milliseconds_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


def _on_request(request: Any, get_response: Callable[[Any], Any]) -> Any:
    context = request.context or {}
    # API Gateway's id is the one its response header gives the client, so support can find it.
    request_id = (context.get("requestId") or getattr(request.lambda_context, "aws_request_id", None)
                  or uuid.uuid4().hex)
    route = context.get("resourcePath") or "unknown"
    started = time.perf_counter()
    status = 500  # unless a response comes back: Chalice turns what escapes into a 500
    with bound(request_id=request_id, route=route, method=request.method):
        try:
            response = get_response(request)
            status = response.status_code
            return response
        finally:
            # The route's pattern, never the path or query string, and never a body.
            elapsed = _milliseconds_since(started)
            log.log(_line_level(), "request", extra={"status": status, "duration_ms": elapsed})
            emit({"Latency": (elapsed, "Milliseconds"), "Requests": (1, "Count"),
                  "ServerErrors": (int(status >= 500), "Count")}, route=route, method=request.method)


def _handler_name(get_response: Any, lambda_context: Any) -> str:
    """The handler's name (generate_video), which the deployed function's name does not give
    (CloudFormation makes it aisora-prod-GenerateVideo-1A2B3C): the user's function closes the
    middleware chain."""
    handler = get_response
    while hasattr(handler, "next_handler"):
        handler = handler.next_handler
    return str(getattr(handler, "__name__", None) or getattr(lambda_context, "function_name", "unknown"))


_MESSAGE_FIELDS = ("job_id", "export_id", "action", "kind", "version")


def _message_fields(event: Any) -> dict[str, Any]:
    """The ids an SQS message carries, from a fixed list: nothing else of a body is logged."""
    records = event.to_dict().get("Records") if hasattr(event, "to_dict") else None
    if not isinstance(records, list) or not records:
        return {}
    fields: dict[str, Any] = {"messages": len(records)}
    if len(records) == 1 and isinstance(records[0], dict):
        fields["message_id"] = records[0].get("messageId")
        try:
            body = json.loads(records[0].get("body") or "")
        except (TypeError, ValueError):
            return fields
        if isinstance(body, dict):
            fields.update({k: body[k] for k in _MESSAGE_FIELDS if isinstance(body.get(k), str)})
    return fields


def _on_event(event: Any, get_response: Callable[[Any], Any]) -> Any:
    from chalice.app import CloudWatchEvent

    lambda_context = getattr(event, "context", None)
    function = _handler_name(get_response, lambda_context)
    request_id = getattr(lambda_context, "aws_request_id", None) or uuid.uuid4().hex
    started = time.perf_counter()
    with bound(request_id=request_id, function=function, **_message_fields(event)):
        try:
            result = get_response(event)
        except Exception as exc:
            log.exception("event failed", extra={"duration_ms": _milliseconds_since(started)})
            raise EventFailed(f"{function} failed with {type(exc).__name__}; its log line has "
                              f"request_id {request_id}") from None
        counts = {}
        if isinstance(result, dict):
            counts = {k: v for k, v in result.items() if isinstance(v, int) and not isinstance(v, bool)}
        extra: dict[str, Any] = {"duration_ms": _milliseconds_since(started)}
        if counts:
            extra["result"] = counts
        log.log(_line_level(), "event handled", extra=extra)
        if isinstance(event, CloudWatchEvent) and event.detail_type == "Scheduled Event":
            # One a run, for the alarm that tells a schedule that stopped running (or succeeding).
            metric("SweepRuns", 1, "Count", function=function)
            for name, count in counts.items():
                metric("SweepCount", count, "Count", function=function, result=name)
        return result
