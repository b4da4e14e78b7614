"""`make run`'s stack, started as a new user starts it, driven over HTTP, stopped with Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from chalicelib.local.embedded_aws import free_port

ROOT = Path(__file__).resolve().parents[1]


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


class Stack:
    def __init__(self, ports: tuple[int, int] | None = None, env: dict[str, str] | None = None) -> None:
        self.api_port, self.moto_port = ports or (free_port(), free_port())
        extra = env or {}
        env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG") if k in os.environ}
        env.update(API_PORT=str(self.api_port), MOTO_PORT=str(self.moto_port), **extra)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "chalicelib.local.stack"],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            start_new_session=True, text=True,
        )
        self.output: list[str] = []
        stop_at = time.monotonic() + 90
        while time.monotonic() < stop_at:
            line = self.process.stdout.readline()
            if not line:
                break
            self.output.append(line)
            if "Press Ctrl-C" in line:
                return
        self.stop()
        pytest.fail("the stack did not get ready:\n" + "".join(self.output))

    def call(self, method: str, path: str, body: dict | None = None, token: str | None = None):
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.api_port}{path}", method=method, headers=headers,
            data=json.dumps(body).encode() if body is not None else None,
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")

    def stop(self) -> int:
        self.process.send_signal(signal.SIGINT)  # what Ctrl-C sends
        try:
            code = self.process.wait(timeout=30)
        finally:
            rest = self.process.stdout.read()
            self.output.append(rest)
        return code

    def group_is_gone(self) -> bool:
        try:
            os.killpg(self.process.pid, 0)
        except ProcessLookupError:
            return True
        return False


def verify_email(stack: Stack, address: str) -> None:
    """Follows the verification link from the stack's own mailbox (moto's data page lists sent mail)."""
    mailbox = f"http://127.0.0.1:{stack.moto_port}/moto-api/data.json"
    with urllib.request.urlopen(mailbox, timeout=10) as response:
        (mail,) = [m for m in json.load(response)["ses"]["Message"]
                   if address in m["destinations"]["ToAddresses"]]
    link = mail["body"].split("verify-email?token=", 1)[1].split()[0]
    assert stack.call("POST", "/auth/verify-email", {"token": link})[0] == 200


def test_the_stack_makes_a_video_over_http_and_stops_everything_on_ctrl_c():
    stack = Stack()
    try:
        ready = "".join(stack.output)
        assert f"http://127.0.0.1:{stack.api_port}/" in ready and "Ctrl-C" in ready
        assert stack.call("GET", "/health") == (200, {"status": "ok"})
        in_force = stack.call("GET", "/policy")[1]["version"]
        status, tokens = stack.call("POST", "/auth/signup", {
            "email": "stack@example.com", "password": "correct horse battery staple",
            "birth_date": "1991-02-03", "accept_policy_version": in_force,
        })
        assert status == 201, tokens
        token = tokens["access_token"]
        verify_email(stack, "stack@example.com")
        status, job = stack.call("POST", "/videos", {"prompt": "Koi in a pond, top view",
                                                     "seconds": 4, "size": "720x1280"}, token)
        assert status == 202, job
        seen = []
        stop_at = time.monotonic() + 90
        while time.monotonic() < stop_at:
            _, view = stack.call("GET", f"/videos/{job['id']}", token=token)
            seen.append((view["status"], view["progress"]))
            if view["status"] not in ("queued", "in_progress"):
                break
            time.sleep(0.25)
        assert seen[-1] == ("completed", 100), seen
        assert any(s == "in_progress" for s, _ in seen), seen
        status, download = stack.call("GET", f"/videos/{job['id']}/download", token=token)
        assert status == 200
        with urllib.request.urlopen(download["url"], timeout=10) as response:
            video = response.read()
        assert video[4:8] == b"ftyp" and len(video) > 10_000
    finally:
        code = stack.stop()
    assert code == 0, "".join(stack.output)
    # The local mailbox printed the verification mail, link and all.
    assert "MAIL to stack@example.com: Confirm your email address" in "".join(stack.output)
    assert "/#/verify-email?token=" in "".join(stack.output)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not stack.group_is_gone():
        time.sleep(0.2)
    assert stack.group_is_gone(), "a process the stack started outlived Ctrl-C"
    assert not _listening(stack.api_port) and not _listening(stack.moto_port)


def test_the_stack_starts_again_on_the_same_ports_after_a_stop():
    first = Stack()
    assert first.stop() == 0
    second = Stack((first.api_port, first.moto_port))
    try:
        assert second.call("GET", "/plans")[0] == 200
    finally:
        assert second.stop() == 0


def test_the_front_door_serves_only_files_under_web():
    from chalicelib.local.front import WEB, _static_file

    assert _static_file("/") == WEB / "index.html"
    assert _static_file("/assets/../../app.py") is None
    assert _static_file("/assets/%2e%2e/%2e%2e/app.py") is None
    assert _static_file("/videos") is None  # the API's


def _fal_model() -> str | None:
    from chalicelib.services import catalogue

    return next((m.id for m in catalogue.MODELS.values() if any(r.provider == "fal" for r in m.routes)), None)


def test_the_stack_with_fal_keys_makes_videos_through_the_fal_stand_in():
    pytest.importorskip("chalicelib.local.standins.fal")
    model = _fal_model()
    if model is None:
        pytest.skip("no model of the catalogue has a fal route")
    from chalicelib.services import catalogue

    spec = catalogue.MODELS[model]
    standin = subprocess.Popen([sys.executable, "-m", "chalicelib.local.standins.fal", "--port", "0"],
                               cwd=ROOT, stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        # It prints the environment that points the app at it: FAL_KEY=... FAL_QUEUE_URL=... FAL_JWKS_URL=...
        fal_env = dict(pair.split("=", 1) for pair in standin.stdout.readline().split())
        assert set(fal_env) == {"FAL_KEY", "FAL_QUEUE_URL", "FAL_JWKS_URL"}, fal_env
        stack = Stack(env=fal_env)
        try:
            assert any("made by fal" in line for line in stack.output), "".join(stack.output)
            _, in_force = stack.call("GET", "/policy")
            status, tokens = stack.call("POST", "/auth/signup", {
                "email": "fal-stack@example.com", "password": "correct horse battery staple",
                "birth_date": "1991-02-03", "accept_policy_version": in_force["version"],
            })
            assert status == 201, tokens
            token = tokens["access_token"]
            verify_email(stack, "fal-stack@example.com")
            status, job = stack.call("POST", "/videos", {"prompt": "Koi in a pond, top view", "model": model,
                                                         "seconds": min(spec.seconds), "size": spec.sizes[0]},
                                     token)
            assert status in (202, 402), job
            if status == 402:
                pytest.skip(f"the signup grant does not pay for {model}")
            view = {}
            stop_at = time.monotonic() + 150
            while time.monotonic() < stop_at:
                _, view = stack.call("GET", f"/videos/{job['id']}", token=token)
                if view["status"] not in ("queued", "in_progress"):
                    break
                time.sleep(0.5)
            assert view["status"] == "completed", (view, "".join(stack.output[-40:]))
            status, download = stack.call("GET", f"/videos/{job['id']}/download", token=token)
            assert status == 200
            with urllib.request.urlopen(download["url"], timeout=10) as response:
                assert response.read()[4:8] == b"ftyp"
        finally:
            assert stack.stop() == 0, "".join(stack.output)
    finally:
        os.killpg(standin.pid, signal.SIGINT)
        standin.wait(timeout=10)
