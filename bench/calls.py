"""AWS calls per request, for every route of app.py, counted with botocore's event hooks (a
`before-call` handler on every client the app builds), in-process on moto. Beside each, its
floor where the route has one: GET /me and GET /videos/{id} one DynamoDB read; POST /videos
one transaction, one queue message and at most one read; a download address no S3 call.

    make bench        (or: .venv/bin/python bench/calls.py)

A route of the routing table that no request here reaches is a failed row, so a new route
needs its request added below. Setup between the counted requests (accounts, an operator, a
finished video) is not counted.
"""

from __future__ import annotations

import base64
import collections
import hashlib
import hmac
import json
import os
import re
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench import table, world
from bench.table import FAIL, Row

TITLE = "AWS calls per request (every route; in-process moto; botocore before-call hooks)"

READS = {"dynamodb:GetItem", "dynamodb:Query", "dynamodb:Scan", "dynamodb:BatchGetItem",
         "dynamodb:TransactGetItems"}


def _reads(calls: dict[str, int]) -> int:
    return sum(n for op, n in calls.items() if op in READS)


@dataclass(frozen=True)
class Floor:
    text: str
    met: Callable[[dict[str, int]], bool]


NO_CALL = Floor("0 calls", lambda calls: not calls)
ONE_READ = Floor("1 DynamoDB read", lambda calls: _reads(calls) == sum(calls.values()) <= 1)
FLOORS = {
    "GET /health": NO_CALL,
    "GET /openapi.json": NO_CALL,
    "GET /policy": NO_CALL,
    "GET /plans": NO_CALL,
    "GET /me": ONE_READ,
    "GET /videos/{video_id}": ONE_READ,
    "POST /videos": Floor(
        "1 TransactWriteItems + 1 SendMessage + <= 1 read",
        lambda calls: calls.get("dynamodb:TransactWriteItems") == 1 and calls.get("sqs:SendMessage") == 1
        and _reads(calls) <= 1 and sum(calls.values()) == 2 + _reads(calls),
    ),
    "GET /videos/{video_id}/download": Floor(
        "0 S3 calls", lambda calls: not any(op.startswith("s3:") for op in calls)),
}


@dataclass(frozen=True)
class Measured:
    route: str  # "METHOD /template", as in the routing table
    variant: str
    expected: int
    status: int
    calls: dict[str, int]


class Api:
    """The chalice test client, with every request's AWS calls counted when asked."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.measured: list[Measured] = []

    def send(self, method: str, path: str, body: Any = None, token: str | None = None,
             headers: dict[str, str] | None = None) -> Any:
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        if token:
            all_headers["Authorization"] = f"Bearer {token}"
        raw = body if isinstance(body, (bytes, str)) or body is None else json.dumps(body)
        return self.client.http.request(method, path, headers=all_headers, body=raw or b"")

    def measure(self, method: str, template: str, expected: int, body: Any = None, token: str | None = None,
                headers: dict[str, str] | None = None, variant: str = "", **params: str) -> Any:
        calls: collections.Counter[str] = collections.Counter()

        def count(model: Any, **_: Any) -> None:
            calls[world.operation(model)] += 1

        with world.hooked("before-call", count):
            response = self.send(method, template.format(**params), body, token, headers)
        self.measured.append(Measured(f"{method} {template}", variant, expected, response.status_code,
                                      dict(calls)))
        return response


def mail_token(address: str, link: str) -> str:
    """The token of the newest link of this kind mailed to this address (moto keeps SES's mail)."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    sent = ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages
    bodies = [m.body for m in sent if address in m.destinations.get("ToAddresses", []) and link in m.body]
    match = re.search(r"token=([A-Za-z0-9_-]+)", bodies[-1])
    assert match, bodies[-1]
    return match.group(1)


def stripe_signed(event: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(event).encode()
    stamp = int(time.time())
    mac = hmac.new(world.STRIPE_SECRET.encode(), f"{stamp}.".encode() + raw, hashlib.sha256).hexdigest()
    return raw, {"Stripe-Signature": f"t={stamp},v1={mac}"}


def creem_signed(event: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(event).encode()
    return raw, {"creem-signature": hmac.new(world.CREEM_SECRET.encode(), raw, hashlib.sha256).hexdigest()}


def replicate_signed(event: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    """Signed as Replicate signs (standard webhooks: base64 HMAC of id.timestamp.body)."""
    raw = json.dumps(event)
    webhook_id, stamp = f"wh_{uuid.uuid4().hex}", int(time.time())
    key = base64.b64decode(world.REPLICATE_SECRET.removeprefix("whsec_"))
    mac = base64.b64encode(hmac.new(key, f"{webhook_id}.{stamp}.{raw}".encode(), hashlib.sha256).digest())
    return raw.encode(), {"webhook-id": webhook_id, "webhook-timestamp": str(stamp),
                          "webhook-signature": f"v1,{mac.decode()}"}


def finish(video_id: str) -> None:
    """Setup: the video as the worker leaves it when the provider is done (files in the bucket)."""
    from chalicelib import aws
    from chalicelib.models import VideoJob
    from chalicelib.models.base import utcnow
    from chalicelib.services import retention

    job = VideoJob.get(video_id)
    now = utcnow()
    keys = {"video": f"videos/{job.user_id}/{video_id}/video.mp4",
            "thumbnail": f"videos/{job.user_id}/{video_id}/thumbnail.webp"}
    for key in keys.values():
        aws.s3().put_object(Bucket=os.environ["MEDIA_BUCKET"], Key=key, Body=b"bench")
    job.update(actions=[
        VideoJob.status.set("completed"), VideoJob.progress.set(100),
        VideoJob.provider_job_id.set("video_bench"), VideoJob.video_key.set(keys["video"]),
        VideoJob.thumbnail_key.set(keys["thumbnail"]),
        VideoJob.completed_at.set(now), VideoJob.expires_at.set(retention.expires_at(now, "free")),
        VideoJob.expiry_shard.set(retention.expiry_shard(video_id)), VideoJob.pending.remove(),
    ])


def every_route(api: Api) -> None:
    """One request per route (a few routes twice, as variants), in an order that gives each the
    state it needs."""
    from chalicelib.services import admin, policy

    version = policy.in_force().version

    def signup_body(email: str) -> dict[str, Any]:
        return {"email": email, "password": world.PASSWORD, "birth_date": "1990-01-01",
                "accept_policy_version": version}

    alice, bob, carol = (f"{name}-{uuid.uuid4().hex[:8]}@example.com" for name in ("alice", "bob", "carol"))
    api.send("POST", "/auth/signup", signup_body(alice))
    api.send("GET", "/health")  # warms what the first request of a process builds

    for path in ("/health", "/openapi.json", "/policy", "/plans"):
        api.measure("GET", path, 200)

    # --- accounts
    api.measure("POST", "/auth/signup", 201, signup_body(bob))
    tokens = api.measure("POST", "/auth/login", 200, {"email": alice, "password": world.PASSWORD}).json_body
    token = tokens["access_token"]
    user_id = api.send("GET", "/me", token=token).json_body["id"]
    rotated = api.measure("POST", "/auth/refresh", 200, {"refresh_token": tokens["refresh_token"]}).json_body
    api.measure("POST", "/auth/logout", 204, {"refresh_token": rotated["refresh_token"]})
    # Logout ended that session's access tokens too: sign in again for the rest.
    token = api.send("POST", "/auth/login", {"email": alice, "password": world.PASSWORD}
                     ).json_body["access_token"]
    api.measure("POST", "/auth/verify-email", 200, {"token": mail_token(bob, "verify-email")})
    api.measure("POST", "/auth/verify-email/resend", 202, token=token)
    # Videos need a verified address: alice follows the link just sent.
    api.send("POST", "/auth/verify-email", {"token": mail_token(alice, "verify-email")})
    api.measure("POST", "/auth/password-reset", 202, {"email": bob})
    bob_password = "another horse battery staple"  # noqa: S105 - a bench account's, in moto
    api.measure("POST", "/auth/password-reset/confirm", 200,
                {"token": mail_token(bob, "reset-password"), "password": bob_password})
    token = api.measure("POST", "/me/password", 200, {"current_password": world.PASSWORD,
                                                      "new_password": "a third horse battery staple"},
                        token).json_body["access_token"]
    api.measure("GET", "/me", 200, token=token)
    api.measure("PATCH", "/me", 200, {"marketing_opt_in": True}, token)
    api.measure("PATCH", "/me/consents", 200, {"analytics": True}, token)
    export_id = api.measure("POST", "/me/export", 202, token=token).json_body["id"]
    api.measure("GET", "/me/export/{export_id}", 200, token=token, export_id=export_id)
    request_id = api.measure("POST", "/privacy/requests", 201, {"type": "access"}, token).json_body["id"]
    api.measure("POST", "/support", 201, {"email": alice, "subject": "Hello", "message": "A question."})
    api.measure("POST", "/me/policy-acceptance", 200, {"version": version}, token)
    api.measure("GET", "/me/credits", 200, token=token)
    api.measure("GET", "/me/activity", 200, token=token)

    # --- videos
    video = {"prompt": "A red fox in fresh snow", "seconds": 4, "size": "720x1280"}
    video_id = api.measure("POST", "/videos", 202, video, token).json_body["id"]
    api.measure("POST", "/uploads", 201, {"content_type": "image/png", "size": 1000}, token)
    api.measure("GET", "/videos", 200, token=token)
    api.measure("GET", "/videos/{video_id}", 200, token=token, video_id=video_id)
    finish(video_id)
    api.measure("GET", "/videos/{video_id}/download", 200, token=token, video_id=video_id)
    raw, signed = replicate_signed({"id": "benchnotoursprediction", "model": "google/veo-3.1",
                                    "version": "hidden",
                                    "status": "succeeded", "output": None})
    api.measure("POST", "/webhooks/replicate", 200, raw, headers=signed, variant="(a prediction not ours)")
    api.measure("POST", "/webhooks/fal", 400, raw, headers={}, variant="(unsigned: refused)")
    api.measure("DELETE", "/videos/{video_id}", 204, token=token, video_id=video_id)

    # --- billing
    url = api.measure("POST", "/billing/checkout", 200, {"product_id": "pack_100", "provider": "stripe"},
                      token).json_body["checkout_url"]
    session_id = url.rsplit("/", 1)[1]
    api.measure("GET", "/billing/local-checkout/{session_id}", 200, session_id=session_id)
    api.measure("POST", "/billing/local-checkout/{session_id}/pay", 303, b"",
                headers={"Content-Type": "application/x-www-form-urlencoded"}, session_id=session_id)
    api.measure("POST", "/billing/portal", 422, token=token, variant="(no Stripe key here: refused)")
    paid = {"id": f"evt_{uuid.uuid4().hex}", "object": "event", "type": "checkout.session.completed",
            "created": int(time.time()), "data": {"object": {
                "id": "cs_bench", "object": "checkout.session", "mode": "payment", "payment_status": "paid",
                "payment_intent": f"pi_{uuid.uuid4().hex}", "amount_total": 499, "currency": "usd",
                "metadata": {"user_id": user_id, "product_id": "pack_100"}}}}
    for variant in ("(credits granted)", "(replayed)"):
        raw, signed = stripe_signed(paid)
        api.measure("POST", "/webhooks/stripe", 200, raw, headers=signed, variant=variant)
    order = {"id": f"ord_{uuid.uuid4().hex}", "amount": 499, "currency": "USD"}
    raw, signed = creem_signed({
        "id": f"evt_{uuid.uuid4().hex}", "eventType": "checkout.completed",
        "created_at": int(time.time() * 1000),
        "object": {"id": "ch_bench", "order": order,
                   "metadata": {"user_id": user_id, "product_id": "pack_100"}}})
    api.measure("POST", "/webhooks/creem", 200, raw, headers=signed, variant="(credits granted)")

    # --- operators
    api.send("POST", "/auth/signup", signup_body(carol))
    admin.set_role(carol, "admin")
    operator = api.send("POST", "/auth/login", {"email": carol, "password": world.PASSWORD}).json_body
    op_token = operator["access_token"]
    api.measure("GET", "/admin/privacy-requests", 200, token=op_token)
    api.measure("POST", "/admin/privacy-requests/{request_id}/close", 200, {}, op_token,
                request_id=request_id)
    api.measure("GET", "/admin/support", 200, token=op_token)
    api.measure("POST", "/admin/credits", 200, {"user_id": user_id, "amount": 10, "reason": "bench"},
                op_token)
    api.measure("POST", "/admin/policy/publish", 202, {"version": version}, op_token)
    kept = api.send("POST", "/videos", video, token).json_body["id"]
    api.measure("GET", "/admin/videos/{video_id}", 200, token=op_token, video_id=kept)

    # --- an email change undone from the old address (ends the account's sessions, so last)
    dave = f"dave-{uuid.uuid4().hex[:8]}@example.com"
    dave_token = api.send("POST", "/auth/signup", signup_body(dave)).json_body["access_token"]
    changed = api.send("PATCH", "/me", {"email": f"not-{dave}", "password": world.PASSWORD}, dave_token)
    assert changed.status_code == 200, changed.json_body
    api.send("POST", "/auth/verify-email", {"token": mail_token(f"not-{dave}", "verify-email")})
    api.measure("POST", "/auth/restore-email", 200, {"token": mail_token(dave, "restore-email")})
    # Child reports naming one account: one dismissed, one suspended then reinstated, one erased.
    dave = f"dave-{uuid.uuid4().hex[:8]}@example.com"
    api.send("POST", "/auth/signup", signup_body(dave))
    dismissed, suspended, erased = (
        api.send("POST", "/privacy/requests", {"type": "child_report", "email": carol,
                                               "child_email": dave}).json_body["id"]
        for _ in range(3))
    for action, report in (("dismiss", dismissed), ("suspend", suspended), ("reinstate", suspended),
                           ("erase", erased)):
        api.measure("POST", f"/admin/privacy-requests/{{request_id}}/{action}", 200, {}, op_token,
                    request_id=report)

    # --- last, as it closes the account
    bob_token = api.send("POST", "/auth/login",
                         {"email": bob, "password": bob_password}).json_body["access_token"]
    api.measure("DELETE", "/me", 202, {"password": bob_password}, bob_token)


def _detail(calls: dict[str, int]) -> str:
    return ", ".join(op.split(":")[1] + (f" x{n}" if n > 1 else "") for op, n in sorted(calls.items()))


def row(measured: Measured) -> Row:
    label = f"{measured.route} {measured.variant}".strip()
    total = str(sum(measured.calls.values()))
    floor = None if measured.variant.startswith("(replayed") else FLOORS.get(measured.route)
    if measured.status != measured.expected:
        answered = f"answered {measured.status}, expected {measured.expected}"
        return Row(label, total, verdict=FAIL, detail=f"{answered}: {_detail(measured.calls)}")
    if floor is None:
        return Row(label, total, detail=_detail(measured.calls))
    return Row(label, total, f"floor: {floor.text}", verdict=table.verdict(floor.met(measured.calls)),
               detail=_detail(measured.calls))


def measure() -> list[Row]:
    from chalice.test import Client

    with world.in_process_aws():
        from app import app

        with Client(app, stage_name="dev") as client:
            api = Api(client)
            every_route(api)
        routes = [f"{method} {path}" for path, methods in app.routes.items() for method in methods]
    rows = [row(m) for m in api.measured]
    seen = {m.route for m in api.measured}
    rows += [Row(route, "-", verdict=FAIL, detail="no request of this bench reaches this route")
             for route in routes if route not in seen]
    return rows


if __name__ == "__main__":
    table.main(TITLE, measure)
