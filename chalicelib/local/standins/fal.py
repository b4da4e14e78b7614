"""A loopback stand-in for fal.ai's queue API (providers.md section 9.1), with an Ed25519 key
pair made per run and served as a JWKS; webhooks are signed as fal signs them.

    python -m chalicelib.local.standins.fal --port 9100

prints the environment that points the app at it (FAL_KEY, FAL_QUEUE_URL, FAL_JWKS_URL).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import os
import re
import secrets
import time
import uuid
from dataclasses import replace
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from chalicelib.local.standins.base import Job, JobPlan, Renderer, Reply, StandIn, render_mp4, size_of
from chalicelib.local.standins.cli import serve

_JOB = re.compile(r"/([^/]+/[^/]+)/requests/([^/]+)(/status|/cancel)?")
_FILE = re.compile(r"/files/([^/]+)\.mp4")
_DIGITS = re.compile(r"\d+")


class FalStandIn(StandIn):
    engine = "fal"

    def __init__(self, port: int = 0, render: Renderer = render_mp4, retry_seconds: float = 0.5,
                 key: str | None = None) -> None:
        super().__init__(port, render, retry_seconds)
        self.key = key or f"standin-{uuid.uuid4()}:{secrets.token_hex(16)}"
        self.user_id = "standin-user"
        self.signing_key = Ed25519PrivateKey.generate()

    @property
    def jwks_url(self) -> str:
        return f"{self.url}/.well-known/jwks.json"

    def env(self) -> dict[str, str]:
        return {"FAL_KEY": self.key, "FAL_QUEUE_URL": self.url, "FAL_JWKS_URL": self.jwks_url}

    def rotate_key(self) -> None:
        self.signing_key = Ed25519PrivateKey.generate()

    def step(self, method: str, path: str) -> str:
        if path == "/.well-known/jwks.json":
            return "jwks"
        if _FILE.fullmatch(path):
            return "media"
        match = _JOB.fullmatch(path)
        if match:
            return {"/status": "status", "/cancel": "cancel"}.get(match.group(3) or "", "result")
        return "submit" if method == "POST" else "unknown"

    def answer(self, step: str, path: str, query: dict[str, str], headers: dict[str, str],
               body: bytes) -> Reply:
        if step == "jwks":
            return Reply(200, {"keys": [_jwk(self.signing_key)]})
        if step == "media":
            return self.media(_FILE.fullmatch(path).group(1))  # type: ignore[union-attr]
        if step == "unknown":
            return Reply(404, {"detail": "Not found"})
        if headers.get("Authorization") != f"Key {self.key}":
            return Reply(401, {"detail": "Invalid key"})
        if step == "submit":
            return self._submit(path.strip("/"), query.get("fal_webhook"), body)
        match = _JOB.fullmatch(path)
        job = self.jobs.get(match.group(2)) if match else None
        if job is None or (match and match.group(1) != job.app):
            missing = {"status": "NOT_FOUND"} if step == "cancel" else {"detail": "Request not found"}
            return Reply(404, missing)
        return {"status": self._status, "result": self._result, "cancel": self._cancel}[step](job)

    def _urls(self, job: Job) -> dict[str, str]:
        base = f"{self.url}/{job.app}/requests/{job.id}"
        return {"request_id": job.id, "response_url": base, "status_url": f"{base}/status",
                "cancel_url": f"{base}/cancel"}

    def _submit(self, endpoint: str, webhook: str | None, body: bytes) -> Reply:
        try:
            payload = json.loads(body)
        except ValueError:
            return _invalid("body", "Invalid JSON")
        problem = _check_input(endpoint, payload)
        if problem:
            return _invalid(*problem)
        app = "/".join(endpoint.split("/")[:2])
        job = Job(str(uuid.uuid4()), self.next_plan(), payload, webhook, app=app)
        duration = str(payload.get("duration") or "5").rstrip("s")
        width, height = size_of(payload.get("aspect_ratio"), payload.get("resolution"))
        self.start_job(job, payload.get("prompt", ""), int(duration), width, height)
        return Reply(200, {**self._urls(job), "gateway_request_id": job.id, "queue_position": 0},
                     {"x-fal-request-id": job.id})

    def _status(self, job: Job) -> Reply:
        if not job.done:
            if job.finished_at is None and job.plan.outcome == "never":
                return Reply(200, {**self._urls(job), "status": "IN_QUEUE", "queue_position": 0})
            return Reply(200, {**self._urls(job), "status": "IN_PROGRESS", "logs": []})
        answer: dict[str, Any] = {**self._urls(job), "status": "COMPLETED", "logs": None,
                                  "metrics": {"inference_time": job.plan.seconds}}
        if job.canceled or job.plan.outcome == "fail":
            answer |= {"error": "Request was cancelled" if job.canceled else job.plan.error,
                       "error_type": "request_cancelled" if job.canceled else "generation_error"}
        return Reply(200, answer)

    def _output(self, job: Job) -> dict[str, Any]:
        url = job.plan.result_url or f"{self.url}/files/{job.id}.mp4"
        return {"video": {"url": url, "content_type": "video/mp4", "file_name": "output.mp4",
                          "file_size": len(job.video or b"")}, "seed": 42}

    def _result(self, job: Job) -> Reply:
        if not job.done:
            return Reply(400, {"detail": "Request is still in progress"})
        if job.canceled or job.plan.outcome == "fail":
            return Reply(422, _failure(job.plan), {"X-Fal-Error-Type": "generation_error"})
        return Reply(200, self._output(job))

    def _cancel(self, job: Job) -> Reply:
        if job.done:
            return Reply(400, {"status": "ALREADY_COMPLETED"})
        job.canceled = True
        return Reply(202, {"status": "CANCELLATION_REQUESTED"})

    def webhook(self, job: Job, plan: JobPlan | None = None) -> tuple[bytes, dict[str, str]]:
        """The job's webhook as fal sends it: body and signed headers (per `plan`, else the job's)."""
        plan = plan or job.plan
        if job.done and plan.outcome == "ok" and not job.canceled:
            event: dict[str, Any] = {"status": "OK", "payload": self._output(job), "error": None}
        elif job.done:
            event = {"status": "ERROR", "error": "Invalid status code: 422", "payload": _failure(plan)}
        else:  # an early delivery, before the job is done
            event = {"status": "OK", "payload": None, "error": None}
        body = json.dumps({"request_id": job.id, "gateway_request_id": job.id, **event}).encode()
        timestamp = str(int(time.time()) - (600 if plan.stale else 0))
        message = f"{job.id}\n{self.user_id}\n{timestamp}\n{hashlib.sha256(body).hexdigest()}".encode()
        key = Ed25519PrivateKey.generate() if plan.unknown_key else self.signing_key
        headers = {"Content-Type": "application/json", "X-Fal-Webhook-Request-Id": job.id,
                   "X-Fal-Webhook-User-Id": self.user_id, "X-Fal-Webhook-Timestamp": timestamp,
                   "X-Fal-Webhook-Signature": key.sign(message).hex()}
        if plan.tampered:
            body = body.replace(b'"status": "', b'"status": "X', 1)
        return body, headers

    def signed(self, job_id: str, **changes: Any) -> tuple[bytes, dict[str, str]]:
        job = self.jobs[job_id]
        return self.webhook(job, replace(job.plan, **changes))


def _jwk(key: Ed25519PrivateKey) -> dict[str, str]:
    raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return {"kty": "OKP", "crv": "Ed25519", "x": base64.urlsafe_b64encode(raw).rstrip(b"=").decode()}


def _failure(plan: JobPlan) -> dict[str, Any]:
    return {"detail": [{"loc": ["body"], "msg": plan.error, "type": "generation_error"}]}


def _invalid(field: str, message: str) -> Reply:
    return Reply(422, {"detail": [{"loc": ["body", field], "msg": message, "type": "value_error"}]})


def _check_input(endpoint: str, payload: Any) -> tuple[str, str] | None:
    """The field fal's schema would refuse, with its message; None when the input is fine."""
    if not isinstance(payload, dict):
        return "body", "Input should be an object"
    if not isinstance(payload.get("prompt"), str) or not payload["prompt"].strip():
        return "prompt", "field required"
    duration = payload.get("duration")
    if duration is not None:
        # Veo says "8s"; Kling, Seedance, Wan and Hailuo say "5".
        wanted = r"\d+s" if "veo" in endpoint else r"\d+"
        if not isinstance(duration, str) or not re.fullmatch(wanted, duration):
            return "duration", f"Input should match {wanted}"
    for name in ("image_url", "start_image_url", "end_image_url", "first_frame_url", "last_frame_url"):
        value = payload.get(name)
        if value is not None and not (isinstance(value, str) and value.startswith(("data:image/", "https://"))):
            return name, "Input should be a URL or a data URI"
    if "image-to-video" in endpoint and not (payload.get("image_url") or payload.get("start_image_url")):
        return "image_url", "field required"
    if "first-last-frame" in endpoint:
        for name in ("first_frame_url", "last_frame_url"):
            if not payload.get(name):
                return name, "field required"
    return None


def main(argv: list[str] | None = None) -> int:
    return serve(functools.partial(FalStandIn, key=os.environ.get("FAL_KEY")), "fal", argv)


if __name__ == "__main__":
    raise SystemExit(main())
