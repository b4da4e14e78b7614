"""A loopback stand-in for Replicate's predictions API (providers.md section 9.2), with a
`whsec_` webhook secret made per run; webhooks are signed Standard Webhooks style.

    python -m chalicelib.local.standins.replicate --port 9200

prints the environment that points the app at it (REPLICATE_API_TOKEN, REPLICATE_BASE_URL,
REPLICATE_WEBHOOK_SECRET).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import os
import re
import secrets
import time
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from chalicelib.local.standins.base import Job, JobPlan, Renderer, Reply, StandIn, render_mp4, size_of
from chalicelib.local.standins.cli import serve

_CREATE = re.compile(r"/v1/models/([^/]+/[^/]+)/predictions")
_PREDICTION = re.compile(r"/v1/predictions/([^/]+)(/cancel)?")
_FILE = re.compile(r"/files/([^/]+)\.mp4")


def _secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


class ReplicateStandIn(StandIn):
    engine = "replicate"

    def __init__(self, port: int = 0, render: Renderer = render_mp4, retry_seconds: float = 0.5,
                 token: str | None = None, secret: str | None = None) -> None:
        super().__init__(port, render, retry_seconds)
        self.token = token or "r8_standin" + secrets.token_hex(12)
        self.secret = secret or _secret()

    def env(self) -> dict[str, str]:
        return {"REPLICATE_API_TOKEN": self.token, "REPLICATE_BASE_URL": self.url,
                "REPLICATE_WEBHOOK_SECRET": self.secret}

    def step(self, method: str, path: str) -> str:
        if _FILE.fullmatch(path):
            return "media"
        if path == "/v1/webhooks/default/secret":
            return "secret"
        if method == "POST" and _CREATE.fullmatch(path):
            return "submit"
        match = _PREDICTION.fullmatch(path)
        if match:
            return "cancel" if match.group(2) else "status"
        return "unknown"

    def answer(self, step: str, path: str, query: dict[str, str], headers: dict[str, str],
               body: bytes) -> Reply:
        if step == "media":
            return self.media(_FILE.fullmatch(path).group(1))  # type: ignore[union-attr]
        if step == "unknown":
            return _problem(404, "Not found", "The requested resource could not be found.")
        if headers.get("Authorization") != f"Bearer {self.token}":
            return _problem(401, "Unauthenticated", "You did not pass a valid authentication token")
        if step == "secret":
            return Reply(200, {"key": self.secret})
        if step == "submit":
            return self._create(_CREATE.fullmatch(path).group(1), body)  # type: ignore[union-attr]
        job = self.jobs.get(_PREDICTION.fullmatch(path).group(1))  # type: ignore[union-attr]
        if job is None:
            return _problem(404, "Not found", "The requested prediction does not exist.")
        if step == "cancel" and not job.done:
            job.canceled = True
        return Reply(200, self.prediction(job))

    def _create(self, model: str, body: bytes) -> Reply:
        try:
            request = json.loads(body)
        except ValueError:
            return _problem(400, "Invalid JSON", "The request body is not JSON.")
        payload = request.get("input") if isinstance(request, dict) else None
        problem = _check_input(payload)
        if problem:
            return _problem(422, "Input validation failed", problem)
        job = Job(secrets.token_hex(13), self.next_plan(), payload, request.get("webhook"), model=model)
        width, height = size_of(payload.get("aspect_ratio"), payload.get("resolution"))
        self.start_job(job, payload["prompt"], payload.get("duration") or 5, width, height)
        return Reply(201, self.prediction(job))

    def prediction(self, job: Job) -> dict[str, Any]:
        """The prediction as Replicate shows it now."""
        status, output, error = "processing", None, None
        if job.canceled:
            status = "canceled"
        elif job.done and job.plan.outcome == "fail":
            status, error = "failed", job.plan.error
        elif job.done:
            status, output = "succeeded", job.plan.result_url or f"{self.url}/files/{job.id}.mp4"
        elif job.plan.outcome == "never":
            status = "starting"
        base = f"{self.url}/v1/predictions/{job.id}"
        return {"id": job.id, "model": job.model, "version": "hidden", "input": job.input, "logs": "",
                "output": output, "data_removed": False, "error": error, "status": status,
                "created_at": datetime.now(UTC).isoformat(), "metrics": {},
                "urls": {"get": base, "cancel": f"{base}/cancel", "web": f"{self.url}/p/{job.id}"}}

    def webhook(self, job: Job, plan: JobPlan | None = None) -> tuple[bytes, dict[str, str]]:
        """The job's webhook as Replicate sends it: body and signed headers."""
        plan = plan or job.plan
        body = json.dumps(self.prediction(job)).encode()
        message_id = f"msg_{job.id}"  # the same on every retry
        timestamp = str(int(time.time()) - (600 if plan.stale else 0))
        secret = _secret() if plan.unknown_key else self.secret
        key = base64.b64decode(secret.removeprefix("whsec_"))
        digest = hmac.new(key, f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
        signature = "v1," + base64.b64encode(digest).decode()
        headers = {"Content-Type": "application/json", "webhook-id": message_id,
                   "webhook-timestamp": timestamp, "webhook-signature": signature}
        if plan.tampered:
            body = body.replace(b'"status": "', b'"status": "X', 1)
        return body, headers

    def signed(self, job_id: str, **changes: Any) -> tuple[bytes, dict[str, str]]:
        job = self.jobs[job_id]
        return self.webhook(job, replace(job.plan, **changes))


def _problem(status: int, title: str, detail: str) -> Reply:
    return Reply(status, {"title": title, "detail": detail, "status": status},
                 {"Content-Type": "application/problem+json"})


def _check_input(payload: Any) -> str | None:
    if not isinstance(payload, dict):
        return "input: Invalid type. Expected: object"
    if not isinstance(payload.get("prompt"), str) or not payload["prompt"].strip():
        return "prompt is required"
    if "duration" in payload and not isinstance(payload["duration"], int):
        return "duration: Invalid type. Expected: integer"
    for name in ("image", "start_image", "last_frame"):
        value = payload.get(name)
        if value is not None and not (isinstance(value, str) and value.startswith(("data:image/", "https://"))):
            return f"{name}: Does not match format 'uri'"
    return None


def main(argv: list[str] | None = None) -> int:
    kind = functools.partial(ReplicateStandIn, token=os.environ.get("REPLICATE_API_TOKEN"),
                             secret=os.environ.get("REPLICATE_WEBHOOK_SECRET"))
    return serve(kind, "replicate", argv)


if __name__ == "__main__":
    raise SystemExit(main())
