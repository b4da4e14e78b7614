"""`make run`: the whole product on this machine, with nothing outside it.

Starts, in order: moto server on loopback as the embedded AWS; the stage's tables, bucket and
queues inside it (bootstrap.py); the API under `chalice local`; and the event pump, which runs
in this process and starts a local render process per video. Ctrl-C stops everything it
started. Data lives in moto's memory and is gone when the stack stops.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from chalicelib import secret_store
from chalicelib.local import front
from chalicelib.local.embedded_aws import free_port, wait_until_answering

ROOT = Path(__file__).resolve().parents[2]

# Development-only values (declared with their secrets in chalicelib/secret_store.py), used when the
# environment does not set them. They are public, so Settings refuses them unless STAGE is
# `local`, the stage make run runs.
DEV_SECRETS = secret_store.DEVELOPMENT_VALUES


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _wait_for(url: str, seconds: float, process: subprocess.Popen[bytes]) -> None:
    try:
        wait_until_answering(url, seconds, process)
    except RuntimeError as exc:
        raise SystemExit(str(exc)) from None


def print_new_mail(moto_port: int, stop: threading.Event) -> None:
    """The local mailbox: every message the embedded SES accepts is printed here, links and
    all, so a person can click them. (moto keeps them; its data endpoint lists them.)"""
    seen: set[str] = set()
    while not stop.wait(1.0):
        try:
            url = f"http://127.0.0.1:{moto_port}/moto-api/data.json"
            with urllib.request.urlopen(url, timeout=5) as response:
                messages = json.load(response).get("ses", {}).get("Message", [])
        except (OSError, ValueError):
            continue
        for message in messages:
            if message.get("id") in seen:
                continue
            seen.add(message.get("id"))
            to = ", ".join(message.get("destinations", {}).get("ToAddresses", []))
            rule = "-" * 72
            print(f"\n{rule}\nMAIL to {to}: {message.get('subject')}\n{rule}\n"
                  f"{message.get('body')}\n{rule}\n", flush=True)


def stage_environment(moto_port: int, api_port: int) -> dict[str, str]:
    """The environment every local process shares: the local stage's variables, the embedded
    AWS's address, and the development secrets where the caller set none."""
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    env = dict(os.environ)
    env.update(config["stages"][secret_store.LOCAL_STAGE]["environment_variables"])
    env.update(
        {
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{moto_port}",
            # The embedded AWS takes any credentials; these keep real ones out of reach.
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REGION": "us-east-1",
            "LOCAL_RENDER_DIR": str(ROOT / ".local" / "renders"),
            # Links in mail and the local checkout's address point at this stack's front door.
            "APP_BASE_URL": f"http://127.0.0.1:{api_port}",
            "RECHECK_DELAY_SECONDS": env.get("RECHECK_DELAY_SECONDS", "1"),
            # No provider keys here: the local checkout stands in for Stripe's and Creem's pages.
            "LOCAL_CHECKOUT": "true",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.pop("AWS_PROFILE", None)
    env.pop("AWS_SESSION_TOKEN", None)
    for name, value in DEV_SECRETS.items():
        env.setdefault(name, value)
    return env


def _engines_line() -> str:
    from chalicelib.config import settings

    engines = settings().video_engines
    if engines == frozenset({"local"}):
        return "rendered on this machine by the local renderer"
    return f"made by {', '.join(sorted(engines))} (keys from the environment)"


def main() -> int:
    api_port = int(os.environ.get("API_PORT", "8000"))
    moto_port = int(os.environ.get("MOTO_PORT", "4566"))
    for port in (api_port, moto_port):
        if not _port_free(port):
            print(f"Port {port} on 127.0.0.1 is in use: stop what holds it, or set "
                  f"{'API_PORT' if port == api_port else 'MOTO_PORT'}.", file=sys.stderr)
            return 1

    env = stage_environment(moto_port, api_port)
    os.environ.clear()
    os.environ.update(env)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    for noisy in ("botocore", "pynamodb"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    started = time.monotonic()
    children: list[subprocess.Popen[bytes]] = []
    stop = threading.Event()

    def shutdown(*_: object) -> None:
        stop.set()

    signal.signal(signal.SIGINT, shutdown)
    signal.signal(signal.SIGTERM, shutdown)
    try:
        print(f"Starting the embedded AWS (moto) on 127.0.0.1:{moto_port} ...", flush=True)
        moto = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(moto_port)],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        children.append(moto)
        _wait_for(f"http://127.0.0.1:{moto_port}/moto-api/", 30, moto)

        from chalicelib.local.bootstrap import bootstrap

        resources = bootstrap()
        for variable, queue in (("JOBS_QUEUE_URL", "JobsQueue"), ("EXPORTS_QUEUE_URL", "ExportsQueue"),
                                ("NOTICES_QUEUE_URL", "NoticesQueue")):
            env[variable] = os.environ[variable] = resources.queue_urls[queue]
        print(f"Created the tables, bucket {resources.bucket} and queues "
              f"{', '.join(sorted(resources.queue_urls))}.", flush=True)

        # chalice local listens inside; the front door on api_port adds the web client's files.
        internal_port = free_port()
        print(f"Starting the API (chalice local) on 127.0.0.1:{internal_port} ...", flush=True)
        api = subprocess.Popen(
            [sys.executable, "-m", "chalicelib.local.api", "local", "--host", "127.0.0.1",
             "--port", str(internal_port), "--stage", secret_store.LOCAL_STAGE, "--no-autoreload"],
            cwd=ROOT, env=env,
        )
        children.append(api)
        front_door = front.start(api_port, internal_port)
        _wait_for(f"http://127.0.0.1:{api_port}/health", 60, api)

        from app import app
        from chalicelib.local.pump import EventPump

        pump = EventPump(app, prefix=env["RESOURCE_PREFIX"])
        pump_thread = threading.Thread(target=pump.run, args=(stop,), name="pump", daemon=True)
        pump_thread.start()
        threading.Thread(target=print_new_mail, args=(moto_port, stop), name="mail", daemon=True).start()
        print(
            "\n"
            f"AISora2 is ready in {time.monotonic() - started:.1f}s.\n"
            f"  Open      http://127.0.0.1:{api_port}/  (the web client)\n"
            f"  API       http://127.0.0.1:{api_port}/health  (same origin; contract: /openapi.json)\n"
            f"  AWS       http://127.0.0.1:{moto_port}  (moto; tables, bucket, queues)\n"
            f"  Pump      {len(pump.queues)} queue(s), {len(pump.schedules)} schedule(s)\n"
            f"  Videos    {_engines_line()}\n"
            f"  Mail      printed here as the embedded SES accepts it (verification, reset links)\n"
            "Press Ctrl-C to stop everything.\n",
            flush=True,
        )
        while not stop.is_set():
            for child in children:
                if child.poll() is not None:
                    print(f"{' '.join(map(str, child.args[:3]))} stopped (exit {child.returncode}); "
                          "shutting down.",
                          file=sys.stderr)
                    stop.set()
            stop.wait(0.5)
        pump_thread.join(timeout=10)
        front_door.shutdown()
    finally:
        for child in reversed(children):
            if child.poll() is None:
                child.terminate()
        for child in children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
        print("Stopped.", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
