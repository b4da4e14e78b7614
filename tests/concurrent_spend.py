"""Run by test_billing: 50 parallel spends against a moto server that handles one request at a
time, as DynamoDB applies one write at a time to an item. Any read-then-write race in our code
shows as more spends than credits. Prints the outcome as JSON."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SERVER = """
import sys
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple
run_simple("127.0.0.1", int(sys.argv[1]), DomainDispatcherApplication(create_backend_app), threaded=False)
"""


def main() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        os.environ.update({"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": "x",
                           "AWS_SECRET_ACCESS_KEY": "x", "AWS_DEFAULT_REGION": "us-east-1",
                           "RESOURCE_PREFIX": "aisora-race"})
        sys.path.insert(0, str(ROOT))
        from chalicelib.local.bootstrap import create_tables
        from chalicelib.models import LedgerEntry, User
        from chalicelib.services import credits

        create_tables()
        now = datetime.now(UTC)
        User("racer", email="racer@example.com", password_hash="-", credits=0, age_attested_at=now,
             policy_version="v", policy_accepted_at=now, marketing_choice_at=now).save()
        credits.apply("racer", 400, "adjustment", "top-up")  # ten videos of 40
        outcomes: list[str] = []

        def spend() -> None:
            try:
                credits.apply("racer", -40, "debit", f"job:{uuid.uuid4().hex}:debit")
                outcomes.append("spent")
            except credits.InsufficientCredits:
                outcomes.append("refused")
            except Exception as error:
                outcomes.append(type(error).__name__)

        threads = [threading.Thread(target=spend) for _ in range(50)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        rows = list(LedgerEntry.query("racer"))
        print(json.dumps({
            "spent": outcomes.count("spent"), "refused": outcomes.count("refused"),
            "other": sorted(o for o in outcomes if o not in ("spent", "refused")),
            "balance": int(User.get("racer").credits), "ledger_sum": sum(int(r.amount) for r in rows),
        }))
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
