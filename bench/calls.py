"""AWS calls per request, counted where every SDK call passes (botocore's _make_api_call),
in-process on moto: a Stripe webhook that grants credits, a purchase end to end through the
local checkout, POST /videos, GET /videos/{id}, GET /me and a download address.

    make bench        (or: .venv/bin/python bench/calls.py)
"""

from __future__ import annotations

import collections
import hashlib
import hmac
import json
import os
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.update({
    "STAGE": "dev", "RESOURCE_PREFIX": "aisora-bench", "MEDIA_BUCKET": "aisora-bench-media",
    "JWT_SECRET": "bench-only-secret-0123456789abcdef", "AWS_ACCESS_KEY_ID": "x",
    "AWS_SECRET_ACCESS_KEY": "x", "AWS_DEFAULT_REGION": "us-east-1", "RECHECK_DELAY_SECONDS": "0",
    "APP_BASE_URL": "http://127.0.0.1:8000", "MAIL_FROM": "AISora2 <no-reply@aisora2.com>",
    "STRIPE_WEBHOOK_SECRET": "whsec_bench", "LOCAL_CHECKOUT": "true",
    "LOCAL_RENDER_DIR": str(ROOT / ".local" / "bench-renders"),
})
os.environ.pop("AWS_ENDPOINT_URL", None)

import botocore.client  # noqa: E402
from chalice.test import Client  # noqa: E402
from moto import mock_aws  # noqa: E402

CALLS: collections.Counter[str] = collections.Counter()
_original = botocore.client.BaseClient._make_api_call


def _counting(self, operation_name, api_params):  # type: ignore[no-untyped-def]
    CALLS[f"{self.meta.service_model.service_name}:{operation_name}"] += 1
    return _original(self, operation_name, api_params)


def counted(action) -> dict[str, int]:  # type: ignore[no-untyped-def]
    CALLS.clear()
    botocore.client.BaseClient._make_api_call = _counting
    try:
        action()
    finally:
        botocore.client.BaseClient._make_api_call = _original
    return dict(CALLS)


def main() -> None:
    with mock_aws():
        from chalicelib.local.bootstrap import bootstrap

        resources = bootstrap()
        for variable, queue in (("JOBS_QUEUE_URL", "JobsQueue"), ("EXPORTS_QUEUE_URL", "ExportsQueue"),
                                ("NOTICES_QUEUE_URL", "NoticesQueue")):
            os.environ[variable] = resources.queue_urls[queue]
        from app import app

        with Client(app, stage_name="dev") as client:
            json_headers = {"Content-Type": "application/json"}
            body = {"email": "calls@example.com", "password": "correct horse battery staple",
                    "birth_date": "1990-01-01", "accept_policy_version": "2025-10-08"}
            token = json.loads(client.http.post("/auth/signup", headers=json_headers,
                                                body=json.dumps(body)).body)["access_token"]
            auth = {**json_headers, "Authorization": f"Bearer {token}"}
            user_id = json.loads(client.http.get("/me", headers=auth).body)["id"]
            client.http.get("/me", headers=auth)  # warm the caches of the first request

            event = {"id": f"evt_{uuid.uuid4().hex}", "type": "checkout.session.completed",
                     "created": int(time.time()), "data": {"object": {
                         "id": "cs_1", "mode": "payment", "payment_status": "paid",
                         "payment_intent": f"pi_{uuid.uuid4().hex}", "amount_total": 499, "currency": "usd",
                         "metadata": {"user_id": user_id, "product_id": "pack_100"}}}}
            raw = json.dumps(event).encode()
            stamp = int(time.time())
            mac = hmac.new(b"whsec_bench", f"{stamp}.".encode() + raw, hashlib.sha256).hexdigest()
            rows = {
                "GET /me": counted(lambda: client.http.get("/me", headers=auth)),
                "POST /webhooks/stripe (grant)": counted(lambda: client.http.post(
                    "/webhooks/stripe", body=raw,
                    headers={**json_headers, "Stripe-Signature": f"t={stamp},v1={mac}"})),
                "POST /webhooks/stripe (replay)": counted(lambda: client.http.post(
                    "/webhooks/stripe", body=raw,
                    headers={**json_headers, "Stripe-Signature": f"t={stamp},v1={mac}"})),
            }

            def purchase() -> None:
                url = json.loads(client.http.post("/billing/checkout", headers=auth, body=json.dumps(
                    {"product_id": "pack_100"})).body)["checkout_url"]
                client.http.post(url.split("8000", 1)[1] + "/pay", body=b"",
                                 headers={"Content-Type": "application/x-www-form-urlencoded"})

            rows["a purchase (checkout + pay + webhook)"] = counted(purchase)
            video = {}
            rows["POST /videos"] = counted(lambda: video.update(json.loads(client.http.post(
                "/videos", headers=auth, body=json.dumps({"prompt": "a kite", "seconds": 4})).body)))
            rows["GET /videos/{id}"] = counted(
                lambda: client.http.get(f"/videos/{video['id']}", headers=auth))
    print(f"{'request':42} {'AWS calls':>9}  by operation")
    for label, calls in rows.items():
        detail = ", ".join(f"{k} {v}" for k, v in sorted(calls.items()))
        print(f"{label:42} {sum(calls.values()):>9}  {detail}")


if __name__ == "__main__":
    main()
