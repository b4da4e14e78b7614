"""Management commands for operators, run with AWS credentials of the stage:

    python -m chalicelib.admin grant EMAIL        give an account the admin role
    python -m chalicelib.admin revoke EMAIL       take it away
    python -m chalicelib.admin requests           open privacy requests, soonest due first
    python -m chalicelib.admin inquiries          open support inquiries, soonest due first
    python -m chalicelib.admin log                the newest operators' actions, each naming its operator
    python -m chalicelib.admin suspend|reinstate|erase|dismiss REQUEST_ID --by EMAIL
                                                  decide a child report: suspend the account while
                                                  checking, reinstate it, erase it (closed, its
                                                  subscription cancelled), or dismiss the report;
                                                  audited as the operator's (--by)

The admin role exists only through this command: no API call can grant it.
"""

from __future__ import annotations

import argparse
import json
import sys

from chalicelib.errors import DomainError
from chalicelib.services import admin, inbox, reports
from chalicelib.wiring import privacy_dependencies


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chalicelib.admin")
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("grant", "revoke"):
        commands.add_parser(name).add_argument("email")
    commands.add_parser("requests")
    commands.add_parser("inquiries")
    commands.add_parser("log")
    for name in reports.ACTIONS:
        decide = commands.add_parser(name)
        decide.add_argument("request_id")
        decide.add_argument("--by", required=True, metavar="EMAIL", help="your operator account's email")
    args = parser.parse_args(argv)
    try:
        if args.command in ("grant", "revoke"):
            user_id = admin.set_role(args.email, "admin" if args.command == "grant" else None)
            print(f"{args.command}ed admin for account {user_id}")
        elif args.command in reports.ACTIONS:
            decision = admin.decide_report(admin.operator_id(args.by), args.request_id, args.command,
                                           privacy_dependencies())
            print(json.dumps(decision, indent=2))
        elif args.command == "log":
            print(json.dumps(admin.operator_actions(), indent=2))
        elif args.command == "requests":
            print(json.dumps(inbox.open_requests(), indent=2))
        else:
            print(json.dumps(inbox.open_inquiries(), indent=2))
    except DomainError as error:
        print(f"error: {error.message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
