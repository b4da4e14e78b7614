"""What each Lambda function may touch, and the least-privilege IAM policy made from it.

ACCESS below is the one place to change when a handler starts using another table, part of the
bucket, queue or secret. `python -m chalicelib.local.infra` then writes each function's policy
(`.chalice/policy-<stage>-<function>.json`, named per function in `.chalice/config.json`) and its
environment in `infra/resources.json`. Tests fail when those files are stale or app.py declares
a function that is missing here, and `make test` checks every AWS call the suite makes inside a
handler against that handler's policy (infra/iam_trace.py).

Names follow the stack: tables and queues are `<RESOURCE_PREFIX>-<suffix>`, the bucket is
`<RESOURCE_PREFIX>-media-<account id>`, so the stack must be named after RESOURCE_PREFIX.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Any

TABLE_ACTIONS: dict[str, tuple[str, ...]] = {
    # ConditionCheckItem is a read: a transaction's condition on an item it does not write.
    "read": ("dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:ConditionCheckItem", "dynamodb:Query"),
    "put": ("dynamodb:PutItem",),
    "update": ("dynamodb:UpdateItem",),
    "delete": ("dynamodb:DeleteItem",),
    "scan": ("dynamodb:Scan",),
}
OBJECT_ACTIONS: dict[str, tuple[str, ...]] = {
    "read": ("s3:GetObject",),
    # Uploads carry their retention tags, and a multipart upload may have to be abandoned.
    "write": ("s3:PutObject", "s3:PutObjectTagging", "s3:AbortMultipartUpload"),
    "tag": ("s3:PutObjectTagging",),
    "delete": ("s3:DeleteObject",),
    "list": (),  # s3:ListBucket on the bucket, limited to the prefix by a condition
}
# What Lambda's event source mapping needs of the function's role to feed it a queue.
CONSUME_ACTIONS = ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes")
LOG_ACTIONS = ("logs:CreateLogStream", "logs:PutLogEvents")

# Settings.from_environ requires these two in every function (VIDEO_PROVIDER is openai on AWS).
BASE_SECRETS = ("JWT_SECRET", "VIDEO_API_KEY")
ALL_SECRETS = (
    "JWT_SECRET",
    "VIDEO_API_KEY",
    "VIDEO_WEBHOOK_SECRET",
    "STRIPE_API_KEY",
    "STRIPE_WEBHOOK_SECRET",
    "CREEM_API_KEY",
    "CREEM_WEBHOOK_SECRET",
)


@dataclass(frozen=True)
class Access:
    tables: dict[str, str] = field(default_factory=dict)  # table suffix -> verbs of TABLE_ACTIONS
    objects: dict[str, str] = field(default_factory=dict)  # key prefix -> verbs of OBJECT_ACTIONS
    send: tuple[str, ...] = ()  # queue suffixes it sends to (the queue it consumes comes from app.py)
    mail: bool = False
    secrets: tuple[str, ...] = BASE_SECRETS
    images: bool = False  # decodes reference images: runs with the image layer (Pillow)


_REFUNDS = {"jobs": "read update", "users": "read update", "credit-ledger": "read put"}

ACCESS: dict[str, Access] = {
    "api_handler": Access(
        tables={
            "users": "read put update",
            "emails": "read put delete",
            "sessions": "read put update delete",
            "tokens": "read put update delete",
            "audit": "read put",
            "throttles": "read put update delete",
            "credit-ledger": "read put",  # append-only from the API
            "jobs": "read put update delete",
            "exports": "read put",
            "privacy-requests": "read put update",
            "support": "read put update",
            "billing-events": "read put",
            "payments": "read put update",
            "local-checkouts": "read put update",
        },
        objects={
            # the video webhook completes videos; an upgrade retags them; downloads are presigned
            "videos/": "read write tag delete",
            "exports/": "read",
            "uploads/": "write",  # presigned POST for reference images
            "references/": "read write delete",
        },
        send=("jobs", "exports", "notices"),
        mail=True,
        secrets=ALL_SECRETS,
        images=True,  # a reference_url is fetched and checked while the person waits
    ),
    "generate_video": Access(
        tables=_REFUNDS,
        objects={"references/": "read", "videos/": "write delete"},
        send=("jobs",),  # its own delayed re-checks
        images=True,  # fits the reference to the video's size
    ),
    "fail_stuck_jobs": Access(tables=_REFUNDS),
    "fail_dead_lettered_jobs": Access(tables=_REFUNDS),
    "expire_videos": Access(
        tables={"jobs": "read update"},
        objects={"videos/": "delete", "references/": "delete"},
    ),
    "purge_expired_sessions": Access(tables={"sessions": "read delete", "tokens": "read delete"}),
    "build_export": Access(
        tables={
            "users": "read",
            "exports": "read update",
            "audit": "read",
            "credit-ledger": "read",
            "jobs": "read",
            "sessions": "read",
            "privacy-requests": "read",
        },
        objects={"videos/": "read", "exports/": "write"},
        mail=True,
    ),
    "erase_closed_accounts": Access(
        tables={
            "users": "read delete",
            "emails": "delete",
            "jobs": "read delete",
            "exports": "read delete",
            "sessions": "read delete",
            "tokens": "read delete",
            "audit": "read delete",
            "privacy-requests": "read delete",
            "support": "read delete",
            "local-checkouts": "read delete",
            "credit-ledger": "read put delete",  # rows are kept, pseudonymised
            "payments": "read update",
        },
        objects={
            "videos/": "delete list",
            "uploads/": "delete list",
            "exports/": "delete list",
            "references/": "delete list",
        },
        mail=True,
    ),
    "purge_expired_exports": Access(tables={"exports": "read delete"}, objects={"exports/": "delete"}),
    "flag_due_privacy_requests": Access(tables={"privacy-requests": "read update"}, mail=True),
    "send_notices": Access(tables={"users": "scan update"}, send=("notices",), mail=True),
    "purge_old_ledger_rows": Access(tables={"credit-ledger": "read delete"}),
    "reconcile_balances": Access(tables={"users": "scan", "credit-ledger": "read"}),
    "check_upload": Access(objects={"uploads/": "read delete", "references/": "write"}, images=True),
}


# --- names -----------------------------------------------------------------------------------


def bucket_pattern(prefix: str) -> str:
    """The bucket `<prefix>-media-<account id>`: twelve `?`, so that no key can stand in."""
    return f"{prefix}-media-{'?' * 12}"


def log_group_name(prefix: str, function: str) -> str:
    return f"/aws/lambda/{prefix}-{function}"


def mail_domain(mail_from: str) -> str:
    address = mail_from.rsplit("<", 1)[-1].rstrip(">").strip()
    return address.rsplit("@", 1)[1].lower()


def _table(prefix: str, suffix: str) -> str:
    return f"arn:aws:dynamodb:*:*:table/{prefix}-{suffix}"


def _queue(prefix: str, suffix: str) -> str:
    return f"arn:aws:sqs:*:*:{prefix}-{suffix}"


# --- the app's functions ---------------------------------------------------------------------


@dataclass(frozen=True)
class Function:
    name: str  # as in .chalice/config.json's lambda_functions: api_handler, generate_video, ...
    kind: str  # api, sqs, schedule, event
    queue: str | None = None  # the queue suffix an sqs function consumes
    event_pattern: dict[str, Any] | None = None


def app_functions(app: Any, prefix: str) -> list[Function]:
    """Every Lambda function chalice makes of the app, in declaration order."""
    from chalice.app import CloudWatchEventConfig, ScheduledEventConfig, SQSEventConfig

    found = [Function("api_handler", "api")] if app.routes else []
    for source in app.event_sources:
        if isinstance(source, SQSEventConfig):
            if not source.queue or not source.queue.startswith(prefix + "-"):
                raise ValueError(f"{source.name} consumes {source.queue!r}, not a queue of {prefix}")
            found.append(Function(source.name, "sqs", queue=source.queue.removeprefix(prefix + "-")))
        elif isinstance(source, ScheduledEventConfig):
            found.append(Function(source.name, "schedule"))
        elif isinstance(source, CloudWatchEventConfig):
            found.append(Function(source.name, "event", event_pattern=source.event_pattern))
        else:
            raise ValueError(f"no deployment rule for {type(source).__name__} ({source.name})")
    for name in getattr(app, "pure_lambda_functions", []):
        found.append(Function(getattr(name, "name", str(name)), "lambda"))
    return found


def access_for(function: str) -> Access:
    try:
        return ACCESS[function]
    except KeyError:
        raise KeyError(
            f"app.py declares the function {function!r}, which infra/iam.py's ACCESS does not "
            "list: say what it touches there, then run .venv/bin/python -m chalicelib.local.infra"
        ) from None


# --- the policy ------------------------------------------------------------------------------


def _grouped(entries: dict[str, str]) -> dict[tuple[str, ...], list[str]]:
    groups: dict[tuple[str, ...], list[str]] = {}
    for name, verbs in sorted(entries.items()):
        groups.setdefault(tuple(sorted(set(verbs.split()))), []).append(name)
    return groups


def policy_document(function: Function, prefix: str, mail_from: str) -> dict[str, Any]:
    access = access_for(function.name)
    statements: list[dict[str, Any]] = [
        {
            "Sid": "Logs",
            "Effect": "Allow",
            "Action": list(LOG_ACTIONS),
            "Resource": f"arn:aws:logs:*:*:log-group:{log_group_name(prefix, function.name)}:*",
        }
    ]
    for verbs, tables in _grouped(access.tables).items():
        unknown = set(verbs) - set(TABLE_ACTIONS)
        if unknown:
            raise ValueError(f"{function.name}: unknown table verbs {sorted(unknown)}")
        resources = []
        for suffix in tables:
            resources.append(_table(prefix, suffix))
            if {"read", "scan"} & set(verbs):
                resources.append(_table(prefix, suffix) + "/index/*")
        statements.append({
            "Sid": "Tables" + "".join(v.title() for v in verbs),
            "Effect": "Allow",
            "Action": sorted({a for v in verbs for a in TABLE_ACTIONS[v]}),
            "Resource": resources,
        })
    bucket = bucket_pattern(prefix)
    for verbs, prefixes in _grouped(access.objects).items():
        unknown = set(verbs) - set(OBJECT_ACTIONS)
        if unknown:
            raise ValueError(f"{function.name}: unknown object verbs {sorted(unknown)}")
        actions = sorted({a for v in verbs for a in OBJECT_ACTIONS[v]})
        if actions:
            statements.append({
                "Sid": "Media" + "".join(v.title() for v in verbs),
                "Effect": "Allow",
                "Action": actions,
                "Resource": [f"arn:aws:s3:::{bucket}/{p}*" for p in prefixes],
            })
    listed = sorted(p for p, verbs in access.objects.items() if "list" in verbs.split())
    if listed:
        statements.append({
            "Sid": "MediaList",
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": f"arn:aws:s3:::{bucket}",
            "Condition": {"StringLike": {"s3:prefix": [p + "*" for p in listed]}},
        })
    if access.send:
        statements.append({
            "Sid": "Send",
            "Effect": "Allow",
            "Action": "sqs:SendMessage",
            "Resource": [_queue(prefix, q) for q in sorted(access.send)],
        })
    if function.queue:
        statements.append({
            "Sid": "Consume",
            "Effect": "Allow",
            "Action": list(CONSUME_ACTIONS),
            "Resource": _queue(prefix, function.queue),
        })
    if access.mail:
        statements.append({
            "Sid": "Mail",
            "Effect": "Allow",
            "Action": "ses:SendEmail",
            "Resource": f"arn:aws:ses:*:*:identity/{mail_domain(mail_from)}",
        })
    return {"Version": "2012-10-17", "Statement": statements}


# --- evaluating a policy (tests and the call trace) ------------------------------------------


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _condition_holds(condition: dict[str, Any], context: dict[str, str]) -> bool:
    for operator, tests in condition.items():
        if operator not in ("StringLike", "StringEquals"):
            return False  # not understood here: never assume it holds
        for key, patterns in tests.items():
            if key not in context:
                return False
            value = context[key]
            if operator == "StringLike":
                ok = any(fnmatch.fnmatchcase(value, p) for p in _listed(patterns))
            else:
                ok = value in _listed(patterns)
            if not ok:
                return False
    return True


def allows(policy: dict[str, Any], action: str, resource: str,
           context: dict[str, str] | None = None) -> bool:
    """Whether an Allow statement of the policy (which has no Deny) covers the request."""
    for statement in _listed(policy["Statement"]):
        if statement["Effect"] != "Allow":
            continue
        if not any(fnmatch.fnmatchcase(action.lower(), a.lower()) for a in _listed(statement["Action"])):
            continue
        if not any(fnmatch.fnmatchcase(resource, r) for r in _listed(statement["Resource"])):
            continue
        if _condition_holds(statement.get("Condition", {}), context or {}):
            return True
    return False
