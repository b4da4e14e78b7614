"""Management commands for operators, run with AWS credentials of the stage:

    python -m chalicelib.admin grant EMAIL        give an account the admin role
    python -m chalicelib.admin revoke EMAIL       take it away
    python -m chalicelib.admin requests           open privacy requests, soonest due first
    python -m chalicelib.admin inquiries          open support inquiries, soonest due first

The admin role exists only through this command: no API call can grant it.
"""

from __future__ import annotations

import argparse
import json
import sys

from chalicelib.errors import DomainError
from chalicelib.services import admin, privacy


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chalicelib.admin")
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("grant", "revoke"):
        commands.add_parser(name).add_argument("email")
    commands.add_parser("requests")
    commands.add_parser("inquiries")
    args = parser.parse_args(argv)
    try:
        if args.command in ("grant", "revoke"):
            user_id = admin.set_role(args.email, "admin" if args.command == "grant" else None)
            print(f"{args.command}ed admin for account {user_id}")
        elif args.command == "requests":
            print(json.dumps(privacy.open_requests(), indent=2))
        else:
            print(json.dumps(privacy.open_inquiries(), indent=2))
    except DomainError as error:
        print(f"error: {error.message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
