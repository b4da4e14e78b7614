"""Run by test_account_takeover: 20 parallel wrong-password sign-ins to one account from one
address, against a moto server that handles one request at a time (as DynamoDB applies writes
to one item). Counts the password checks (argon2 verifies, decoys included) they ran: a check
made before the attempt is counted would show as more checks than the limit. Prints JSON."""

from __future__ import annotations

import json
import os
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from concurrent_spend import race  # noqa: E402


def main() -> None:
    sys.path.insert(0, str(ROOT))
    from chalicelib.local.embedded_aws import moto_server

    with moto_server(one_at_a_time=True) as endpoint:
        os.environ.update({"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "x",
                           "AWS_SECRET_ACCESS_KEY": "x", "AWS_DEFAULT_REGION": "us-east-1",
                           "RESOURCE_PREFIX": "aisora-logins"})
        from chalicelib.errors import InvalidCredentials, Throttled
        from chalicelib.local.bootstrap import create_tables
        from chalicelib.models import EmailClaim, User
        from chalicelib.services import credentials, passwords
        from chalicelib.services.accounts import AccountDeps
        from chalicelib.services.client_info import ClientInfo

        create_tables()
        now = datetime.now(UTC)
        owners = passwords.hash_password("the owner's own words")
        User("owner", email="owner@example.com", password_hash=owners,
             age_attested_at=now, policy_version="v", policy_accepted_at=now, marketing_choice_at=now).save()
        EmailClaim("owner@example.com", user_id="owner").save()

        checks: list[int] = []
        lock = threading.Lock()
        verify, decoy = passwords.verify, passwords.verify_decoy

        def counted(real):
            def check(*args):
                with lock:
                    checks.append(1)
                return real(*args)
            return check

        passwords.verify, passwords.verify_decoy = counted(verify), counted(decoy)
        # Sign-in sends no mail and reads no other setting: none are needed.
        deps = AccountDeps(settings=None, mailer=None)  # type: ignore[arg-type]
        guess = {"email": "owner@example.com", "password": "a wrong guess"}
        outcome = race(20, lambda: credentials.login(guess, deps, ClientInfo(ip="192.0.2.1")),
                       "signed_in", ("wrong", InvalidCredentials))
        throttled = outcome["other"].count(Throttled.__name__)
        print(json.dumps({"password_checks": len(checks), "wrong": outcome["wrong"], "throttled": throttled,
                          "other": [o for o in outcome["other"] if o != Throttled.__name__]}))


if __name__ == "__main__":
    main()
