"""Logs and metrics: JSON lines with the invocation's ids, one line per request and event,
EMF metrics, and no personal data anywhere, shown on the whole first path."""

from __future__ import annotations

import base64
import json
import logging
import time
import uuid

import pytest
from chalice import Chalice
from chalice.local import LambdaContext, LambdaEventConverter
from chalice.test import Client
from conftest import empty_queue, get, link_token, mail_to, new_email, post, signup_body

from chalicelib import observability
from chalicelib.errors import WebhookRejected
from chalicelib.local.bootstrap import load_template
from chalicelib.local.pump import EventPump

CLIENT_IP = "203.0.113.77"


def _restore_logging(root_handlers: list[logging.Handler], root_level: int) -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    # pytest adds and removes its own capture handlers around each phase; bring back the rest.
    for handler in root_handlers:
        if not type(handler).__module__.startswith("_pytest"):
            root.addHandler(handler)
    root.setLevel(root_level)
    observability.configure_logging(json_lines=False)


@pytest.fixture
def json_logs():
    """Logging as in Lambda: JSON lines on stdout, metrics as EMF, for this test only."""
    from app import app

    root = logging.getLogger()
    saved = (list(root.handlers), root.level, list(app.log.handlers), app.log.propagate)
    observability.configure_logging(json_lines=True, app_log=app.log)
    yield app
    _restore_logging(saved[0], saved[1])
    app.log.handlers[:] = saved[2]
    app.log.propagate = saved[3]


def lines(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def log_lines(out: str) -> list[dict]:
    return [line for line in lines(out) if "_aws" not in line]


def metric_documents(out: str) -> list[dict]:
    return [line for line in lines(out) if "_aws" in line]


def metric_names(out: str) -> set[str]:
    return {m["Name"] for doc in metric_documents(out)
            for d in doc["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]}


# --- the scrubber ---------------------------------------------------------------------------


@pytest.mark.parametrize("text, secret", [
    ("could not send to Someone.Else+tag@Example.co.uk", "Someone.Else+tag@Example.co.uk"),
    ("login by josé@exämple.de", "josé@exämple.de"),
    ("{'email': 'x', 'password': 'correct horse battery staple'}", "correct horse battery staple"),
    ('{"new_password": "violet lantern gravel orbit"}', "violet lantern gravel orbit"),
    ("password=hunter2hunter2 next", "hunter2hunter2"),
    ('{"prompt": "A red fox in fresh snow"}', "A red fox in fresh snow"),
    ("Authorization: Bearer abc.def-ghi", "abc.def-ghi"),
    ("token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.sig-nature_x here", "eyJzdWIiOiIxMjMifQ"),
    ("link /#/reset-password?token=q9Xk2mZ7aR4vT1bN8cW3eY6uI0oP5sD2fG7hJ4kL9zQ", "q9Xk2mZ7aR4vT1bN8c"),
    ("reset secret q9Xk2mZ7aR4vT1bN8cW3eY6uI0oP5sD2fG7hJ4kL9zQ in prose", "q9Xk2mZ7aR4vT1bN8c"),
    ("refresh 0123abcd.Zq9Xk2mZ7aR4vT1bN8cW3eY6uI0oP5sD2fG7hJ4kL9z", "Zq9Xk2mZ7aR4vT1bN8cW3eY6uI0oP5sD2f"),
    ("from 203.0.113.77 via proxy", "203.0.113.77"),
    ("from 2001:db8::8a2e:370:7334 via proxy", "2001:db8::8a2e:370:7334"),
    ("client_ip=10.1.2.3", "10.1.2.3"),
])
def test_the_scrubber_redacts_personal_data_and_credentials(text, secret):
    scrubbed = observability.scrub(text)
    assert secret not in scrubbed and observability.REDACTED in scrubbed


@pytest.mark.parametrize("text", [
    "job 3f2b9c1d4e5f60718293a4b5c6d7e8f9 submitted",
    "request 8df2fd1a-2cb3-44a9-99ea-92fb65992588",
    "at 2026-11-28T05:23:21.498+00:00 took 12:30:45",
    "chalice 1.34.0, moto 5.2.5, stripe:evt_local_0123456789abcdef0123456789abcdef",
    "balance differs from the ledger for 3 account(s)",
])
def test_the_scrubber_keeps_ids_times_and_versions_readable(text):
    assert observability.scrub(text) == text


def test_structured_values_hide_sensitive_keys_whole():
    value = {"email": "a@b.co", "nested": {"refresh_token": "x"}, "items": ["to a@b.co"], "n": 3}
    assert observability.scrub_value(value) == {
        "email": "[redacted]", "nested": {"refresh_token": "[redacted]"}, "items": ["to [redacted]"], "n": 3,
    }


# --- JSON lines -----------------------------------------------------------------------------


def test_a_json_line_carries_the_invocation_fields_extras_and_a_scrubbed_exception(json_logs, capsys):
    logger = logging.getLogger("chalicelib.services.example")
    with observability.bound(request_id="r-1", job_id="j-1"):
        try:
            raise ValueError("mail to someone@example.com bounced")
        except ValueError:
            logger.exception("could not send", extra={"attempt": 2, "email": "someone@example.com"})
    logger.info("outside")
    first, second = log_lines(capsys.readouterr().out)
    assert first["level"] == "ERROR" and first["logger"] == "chalicelib.services.example"
    assert (first["request_id"], first["job_id"], first["attempt"]) == ("r-1", "j-1", 2)
    assert first["email"] == "[redacted]" and first["error_type"] == "ValueError"
    assert "someone@example.com" not in json.dumps(first) and "bounced" in first["exception"]
    assert "request_id" not in second


def test_json_logging_is_set_up_once_however_often_it_is_asked(json_logs, capsys):
    observability.configure_logging(json_lines=True, app_log=json_logs.log)
    observability.configure_logging(json_lines=True, app_log=json_logs.log)
    assert len(logging.getLogger().handlers) == 1
    logging.getLogger("chalicelib.x").warning("once")
    json_logs.log.error("the app's own logger, once too")
    out = capsys.readouterr().out
    assert out.count('"once"') == 1 and out.count("the app's own logger") == 1


def test_the_libraries_that_log_request_bodies_stay_at_warning(json_logs):
    for name in ("botocore", "boto3", "pynamodb", "urllib3", "openai", "httpx", "stripe"):
        assert logging.getLogger(name).getEffectiveLevel() == logging.WARNING
        assert not logging.getLogger(f"{name}.child").isEnabledFor(logging.INFO)


def test_lambda_gets_json_and_a_developer_gets_text(monkeypatch):
    monkeypatch.delenv("LOG_FORMAT", raising=False)
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    assert not observability._wants_json()
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "aisora-prod-generate_video")
    assert observability._wants_json()
    monkeypatch.setenv("LOG_FORMAT", "text")
    assert not observability._wants_json()


# --- metrics --------------------------------------------------------------------------------


def test_a_metric_is_one_emf_line_by_stack_and_by_its_dimensions(json_logs, capsys, monkeypatch):
    monkeypatch.setenv("RESOURCE_PREFIX", "aisora-prod")
    with observability.bound(request_id="r-2"):
        observability.metric("VideosFailed", 1, "Count", reason="timed_out")
    (document,) = lines(capsys.readouterr().out)
    (directive,) = document["_aws"]["CloudWatchMetrics"]
    assert directive == {"Namespace": "AISora2", "Dimensions": [["stack"], ["stack", "reason"]],
                         "Metrics": [{"Name": "VideosFailed", "Unit": "Count"}]}
    assert (document["stack"], document["reason"]) == ("aisora-prod", "timed_out")
    assert document["VideosFailed"] == 1
    assert document["request_id"] == "r-2"
    assert abs(document["_aws"]["Timestamp"] - time.time() * 1000) < 60_000


def test_a_metric_refuses_an_unknown_unit_or_a_non_number(json_logs):
    with pytest.raises(ValueError, match="unit"):
        observability.metric("Latency", 1, "ms")
    with pytest.raises(ValueError, match="number"):
        observability.metric("Latency", float("nan"), "Milliseconds")


def test_outside_lambda_a_metric_prints_nothing(capsys):
    observability.metric("VideosRequested", 1, "Count", model="veo-3.1-fast")
    assert capsys.readouterr().out == ""


def test_a_counted_call_is_measured_by_event_type_and_outcome(json_logs, capsys):
    @observability.counted("WebhookEvents", provider="test")
    def handle(kind: str | None, result: str = "granted") -> str:
        if kind is None:
            raise WebhookRejected("The signature does not match this body.")
        observability.bind(event_type=kind)
        return result

    handle("invoice.paid")
    handle("charge.refunded", "clawed back 40")
    with pytest.raises(WebhookRejected):
        handle(None)
    seen = [(d["type"], d["outcome"]) for d in metric_documents(capsys.readouterr().out)]
    assert seen == [("invoice.paid", "granted"), ("charge.refunded", "clawed_back"),
                    ("unverified", "bad_signature")]
    assert "event_type" not in observability.current()


def test_a_forged_webhook_of_any_provider_is_counted_where_the_templates_alarm_looks(
        json_logs, capsys, monkeypatch):
    from chalicelib.adapters.video import WebhookInvalid
    from chalicelib.wiring import WEBHOOK_VERIFIERS

    def refuse(raw, headers, query, config):
        raise WebhookInvalid("no valid signature")

    monkeypatch.setenv("RESOURCE_PREFIX", "aisora-prod")
    for name in ("STRIPE_WEBHOOK_SECRET", "CREEM_WEBHOOK_SECRET"):
        monkeypatch.setenv(name, "whsec_" + name.lower())
    # The engines' verifiers are their adapters' own (tested there); here, what a refusal counts.
    for engine in ("fal", "replicate"):
        monkeypatch.setitem(WEBHOOK_VERIFIERS, engine, refuse)
    forged = {
        "stripe": {"Stripe-Signature": f"t={int(time.time())},v1={'0' * 64}"},
        "creem": {"creem-signature": "0" * 64},
        "fal": {"X-Fal-Webhook-Signature": "00" * 64},
        "replicate": {"webhook-id": "msg_1", "webhook-timestamp": str(int(time.time())),
                      "webhook-signature": "v1," + base64.b64encode(b"\0" * 32).decode()},
    }
    with Client(json_logs) as client:
        for provider, headers in forged.items():
            response = client.http.post(f"/webhooks/{provider}", body=b'{"type": "x"}',
                                        headers={"Content-Type": "application/json", **headers})
            assert response.status_code == 400, provider
    published = {(d["provider"], d["type"], d["outcome"]) for d in metric_documents(capsys.readouterr().out)
                 if "WebhookEvents" in d}
    assert published == {(p, "unverified", "bad_signature") for p in forged}

    alarm = load_template()["Resources"]["WebhookSignatureFailuresAlarm"]["Properties"]
    watched = set()
    for query in alarm["Metrics"]:
        if "MetricStat" in query:
            metric = query["MetricStat"]["Metric"]
            dimensions = {d["Name"]: d["Value"] for d in metric["Dimensions"]}
            assert (metric["Namespace"], metric["MetricName"]) == (observability.NAMESPACE, "WebhookEvents")
            assert dimensions.pop("stack") == {"Ref": "AWS::StackName"}  # RESOURCE_PREFIX on AWS
            watched.add((dimensions["provider"], dimensions["type"], dimensions["outcome"]))
    assert watched == published


# --- the middleware -------------------------------------------------------------------------


@pytest.fixture
def small_app(json_logs):
    app = Chalice(app_name="observed")
    observability.install(app)
    observability.configure_logging(json_lines=True, app_log=app.log)

    @app.route("/items/{item_id}", methods=["POST"])
    def create_item(item_id):
        return {"id": item_id}

    @app.route("/broken")
    def broken():
        raise RuntimeError("could not reach someone@example.com")

    @app.on_sqs_message(queue="observed-jobs")
    def work(event):
        for record in event:
            raise ValueError(f"bad message {record.body}")

    @app.schedule("rate(1 hour)")
    def sweep(event):
        return {"expired": 3, "kept": 1}

    return app


def test_each_request_is_one_line_with_its_route_status_and_time_never_its_body(small_app, capsys):
    with Client(small_app) as client:
        client.http.post("/items/42?email=someone@example.com", body='{"password": "pw-secret"}',
                         headers={"Content-Type": "application/json"})
    out = capsys.readouterr().out
    (line,) = log_lines(out)
    assert line["message"] == "request" and line["route"] == "/items/{item_id}"
    assert (line["method"], line["status"]) == ("POST", 200) and line["duration_ms"] >= 0
    assert line["request_id"]
    assert "someone@example.com" not in out and "pw-secret" not in out and "42" not in line["route"]
    (document,) = metric_documents(out)
    assert (document["Requests"], document["ServerErrors"]) == (1, 0) and document["Latency"] >= 0
    assert document["_aws"]["CloudWatchMetrics"][0]["Dimensions"][1] == ["stack", "route", "method"]


def test_an_unhandled_error_is_one_scrubbed_line_then_a_500_line(small_app, capsys):
    with Client(small_app) as client:
        assert client.http.get("/broken").status_code == 500
    error, request = log_lines(capsys.readouterr().out)
    assert error["level"] == "ERROR" and error["error_type"] == "RuntimeError"
    assert "someone@example.com" not in error["exception"]
    assert request["status"] == 500 and request["request_id"] == error["request_id"]


def test_a_failed_message_is_logged_with_its_job_id_and_raised_without_its_text(small_app, capsys):
    with Client(small_app) as client:
        event = client.events.generate_sqs_event(
            message_bodies=[json.dumps({"job_id": "job-7", "action": "submit", "email": "a@b.co"})],
            queue_name="observed-jobs")
    # Named as CloudFormation names a deployed function: the log still says which handler.
    context = LambdaContext("observed-prod-Work-1A2B3C4D5E6F", memory_size=128)
    with pytest.raises(observability.EventFailed) as failed:
        small_app.handler_map["work"](event, context)
    assert "a@b.co" not in str(failed.value) and "ValueError" in str(failed.value)
    (line,) = log_lines(capsys.readouterr().out)
    assert line["message"] == "event failed" and line["function"] == "work"
    assert (line["job_id"], line["action"]) == ("job-7", "submit")
    assert "email" not in line and "a@b.co" not in line["exception"]
    assert line["request_id"] in str(failed.value)


def test_a_schedules_counts_are_logged_and_measured(small_app, capsys):
    with Client(small_app) as client:
        tick = client.events.generate_cw_event(source="aws.events", detail_type="Scheduled Event",
                                               detail={}, resources=[])
        client.lambda_.invoke("sweep", tick)
    out = capsys.readouterr().out
    (line,) = log_lines(out)
    assert line["message"] == "event handled" and line["result"] == {"expired": 3, "kept": 1}
    documents = metric_documents(out)
    counts = {(d["function"], d["result"]): d["SweepCount"] for d in documents if "SweepCount" in d}
    assert counts == {("sweep", "expired"): 3, ("sweep", "kept"): 1}
    # and one run, which the template's did-not-run alarm counts
    assert [(d["function"], d["SweepRuns"]) for d in documents if "SweepRuns" in d] == [("sweep", 1)]


def test_outside_lambda_the_request_line_is_debug_so_make_run_stays_readable(caplog):
    app = Chalice(app_name="quiet")
    observability.install(app)

    @app.route("/ping")
    def ping():
        return {}

    with caplog.at_level(logging.DEBUG, logger="chalicelib.observability"), Client(app) as client:
        client.http.get("/ping")
    (line,) = [r for r in caplog.records if r.getMessage() == "request"]
    assert line.levelno == logging.DEBUG and line.status == 200


# --- no personal data on the whole first path -----------------------------------------------


class _Everything(logging.Handler):
    """Every record from every logger, as raw as it was made (before any scrubbing)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.texts: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        text = record.getMessage() + " " + json.dumps(
            {k: v for k, v in vars(record).items() if k not in ("exc_info", "msg", "args")}, default=str)
        if record.exc_info:
            text += logging.Formatter().formatException(record.exc_info)
        self.texts.append(text)


@pytest.fixture
def everything(json_logs):
    root = logging.getLogger()
    handler = _Everything()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield handler
    root.removeHandler(handler)
    root.setLevel(level)


@pytest.fixture
def pump(world, json_logs):
    empty_queue(world.queue_urls["JobsQueue"])
    return EventPump(json_logs, prefix="aisora-dev")


def _send(client, method, path, body=None, token=None):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return client.http.request(method, path, body=json.dumps(body) if body is not None else None,
                               headers=headers)


def _render(pump, client, video_id, token, deadline_seconds=90):
    stop_at = time.monotonic() + deadline_seconds
    while time.monotonic() < stop_at:
        status = get(client, f"/videos/{video_id}", token).json_body["status"]
        if status not in ("queued", "in_progress"):
            return status
        if not pump.pump_queues():
            time.sleep(0.05)
    pytest.fail(f"video still {status} after {deadline_seconds}s")


@pytest.mark.policy("erasure-30-days")
def test_no_log_line_or_metric_holds_the_users_data_on_the_whole_first_path(
    client, pump, everything, capsys, monkeypatch
):
    monkeypatch.setattr(LambdaEventConverter, "LOCAL_SOURCE_IP", CLIENT_IP)
    account = signup_body()
    email, password = account["email"], account["password"]
    new_password, changed_email = "violet lantern gravel orbit", new_email()
    prompt = f"A lighthouse keeper paints the storm at dusk, canvas {uuid.uuid4().hex[:6]}"
    secrets: list[str] = [email, password, new_password, changed_email, prompt, CLIENT_IP]

    # Given a person who signs up, confirms the address, signs in and refreshes the session
    signed_up = post(client, "/auth/signup", account).json_body
    verify_token = link_token(mail_to(email)[-1])
    assert post(client, "/auth/verify-email", {"token": verify_token}).status_code == 200
    signed_in = post(client, "/auth/login", {"email": email, "password": password}).json_body
    refreshed = post(client, "/auth/refresh", {"refresh_token": signed_in["refresh_token"]}).json_body
    token = refreshed["access_token"]
    assert get(client, "/me/activity", token).json_body["sessions"][0]["client_ip"] == CLIENT_IP

    # When they make, render and download a video
    created = post(client, "/videos", {"prompt": prompt, "model": "veo-3.1-fast", "seconds": 4,
                                       "size": "720x1280"}, token)
    assert created.status_code == 202, created.json_body
    assert _render(pump, client, created.json_body["id"], token) == "completed"
    assert get(client, f"/videos/{created.json_body['id']}/download", token).status_code == 200

    # And reset the password, correct the email, and close the account, which is then erased
    post(client, "/auth/password-reset", {"email": email})
    reset_token = link_token(mail_to(email)[-1])
    assert post(client, "/auth/password-reset/confirm",
                {"token": reset_token, "password": new_password}).status_code == 200
    again = post(client, "/auth/login", {"email": email, "password": new_password}).json_body
    assert _send(client, "PATCH", "/me", {"email": changed_email, "password": new_password,
                                         "marketing_opt_in": True},
                 again["access_token"]).status_code == 200
    email_token = link_token(mail_to(changed_email)[-1])
    assert _send(client, "DELETE", "/me", {"password": new_password},
                 again["access_token"]).status_code == 202
    tick = client.events.generate_cw_event(source="aws.events", detail_type="Scheduled Event",
                                           detail={}, resources=[])
    assert client.lambda_.invoke("erase_closed_accounts", tick).payload["erased"] >= 1

    for pair in (signed_up, signed_in, refreshed, again):
        refresh_secret = pair["refresh_token"].partition(".")[2]
        secrets += [pair["access_token"], pair["refresh_token"], refresh_secret]
    secrets += [verify_token, reset_token, email_token]

    # Then no log record, however raw, and no stdout line holds any of their data
    out = capsys.readouterr().out
    records = "\n".join(everything.texts)
    for secret in secrets:
        assert secret not in records, f"a log record holds {secret[:12]}..."
        assert secret not in out, f"stdout holds {secret[:12]}..."
    # (the capture did see the whole path, at DEBUG, and the body-logging libraries said nothing)
    assert logging.getLogger().level == logging.DEBUG and len(everything.records) > 20
    assert not [r for r in everything.records if r.name.split(".")[0] in observability.QUIET_LOGGERS
                and r.levelno < logging.WARNING]

    # And every stdout line is JSON with its request id: one line per request, metrics as EMF
    logged = log_lines(out)
    assert logged and all(line.get("request_id") for line in logged)
    requests_seen = {(line["method"], line["route"]) for line in logged if line["message"] == "request"}
    assert {("POST", "/auth/signup"), ("POST", "/videos"), ("PATCH", "/me"), ("DELETE", "/me"),
            ("GET", "/videos/{video_id}/download")} <= requests_seen
    worker_lines = [line for line in logged if line.get("function") == "generate_video"]
    assert worker_lines and all(line["job_id"] == created.json_body["id"] for line in worker_lines)
    assert {"VideosRequested", "VideosCompleted", "GenerationTime", "CreditsGranted", "CreditsSpent",
            "Latency", "SweepCount"} <= metric_names(out)
