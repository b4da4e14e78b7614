"""What each Lambda function may touch, and the least-privilege IAM policy made from it.

ACCESS below is the one place to change when a handler starts using another table, part of the
bucket, queue or secret (each secret is declared once, in chalicelib/secret_store.py, and granted
here). `python -m chalicelib.local.infra` then writes each function's policy
(`.chalice/policy-<stage>-<function>.json`, named per function in `.chalice/config.json`) and its
environment in `infra/resources.json`. Tests fail when those files are stale or app.py declares
a function that is missing here, and `make test` checks every AWS call the suite makes inside a
handler against that handler's policy (infra/iam_trace.py).

Names follow the stack: tables and queues are `<RESOURCE_PREFIX>-<suffix>`, the bucket is
`<RESOURCE_PREFIX>-media-<account id>`, secrets the SSM parameters `/<RESOURCE_PREFIX>/<NAME>`,
so the stack must be named after RESOURCE_PREFIX. ARNs name the stack's own region and account
(`${AWS::Region}`, `${AWS::AccountId}`, which CloudFormation substitutes).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Any

from chalicelib.secret_store import SECRETS

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
# Reading its SecureString parameters, in one call (chalicelib/secret_store.py).
SECRET_ACTIONS = ("ssm:GetParameters",)


@dataclass(frozen=True)
class Access:
    tables: dict[str, str] = field(default_factory=dict)  # table suffix -> verbs of TABLE_ACTIONS
    objects: dict[str, str] = field(default_factory=dict)  # key prefix -> verbs of OBJECT_ACTIONS
    send: tuple[str, ...] = ()  # queue suffixes it sends to (the queue it consumes comes from app.py)
    mail: bool = False
    secrets: tuple[str, ...] = ()  # names of chalicelib/secret_store.py's SECRETS it reads
    images: bool = False  # decodes reference images: runs with the image layer (Pillow)
    # Tables only the local checkout touches: not in production, where it is refused.
    local_checkout_tables: dict[str, str] = field(default_factory=dict)


_REFUNDS = {"jobs": "read update", "users": "read update", "credit-ledger": "read put"}

ACCESS: dict[str, Access] = {
    "api_handler": Access(
        tables={
            "users": "read put update",
            "emails": "read put delete",
            "sessions": "read put update delete",
            "tokens": "read put delete",
            "audit": "read put",
            "throttles": "read put update",  # a right password gives its reserved attempt back
            "credit-ledger": "read put",  # append-only from the API
            "jobs": "read put update delete",
            "exports": "read put",
            "privacy-requests": "read put update",
            "support": "read put update",
            "billing-events": "read put",
            "payments": "read put update",
            "checkouts": "read put",
            "subscriptions": "read put",
        },
        objects={
            # an upgrade retags videos; downloads are presigned (webhooks only queue a check)
            "videos/": "read tag delete",
            "exports/": "read",
            "uploads/": "write",  # presigned POST for reference images
            "references/": "read write delete",
        },
        send=("jobs", "exports", "notices"),
        mail=True,
        secrets=("JWT_SECRET", "VIDEO_API_KEY", "STRIPE_API_KEY",
                 "STRIPE_WEBHOOK_SECRET", "CREEM_API_KEY", "CREEM_WEBHOOK_SECRET",
                 "REPLICATE_WEBHOOK_SECRET"),
        images=True,  # a reference_url is fetched and checked while the person waits
        local_checkout_tables={"local-checkouts": "read put update"},
    ),
    "generate_video": Access(
        tables=_REFUNDS,
        # reads back its copy of a result by ranges, to check it is an MP4 of the promised length
        objects={"references/": "read", "videos/": "read write delete"},
        send=("jobs",),  # its own delayed re-checks
        secrets=("VIDEO_API_KEY", "FAL_KEY", "REPLICATE_API_TOKEN"),
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
            "privacy-requests": "read scan delete",  # scanned for requests naming the person
            "support": "read delete",
            "local-checkouts": "read delete",
            "checkouts": "read delete",
            "subscriptions": "read delete",
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


def secret_parameter(prefix: str, name: str) -> str:
    """The SSM path of a stage's secret; the template names it /${AWS::StackName}/<name>."""
    return f"/{prefix}/{name}"


def _here(service: str, resource: str) -> dict[str, str]:
    """An ARN in the stack's own region and account."""
    return {"Fn::Sub": f"arn:aws:{service}:${{AWS::Region}}:${{AWS::AccountId}}:{resource}"}


def _table(prefix: str, suffix: str, index: bool = False) -> dict[str, str]:
    return _here("dynamodb", f"table/{prefix}-{suffix}" + ("/index/*" if index else ""))


def _queue(prefix: str, suffix: str) -> dict[str, str]:
    return _here("sqs", f"{prefix}-{suffix}")


# The bucket's name pattern would also match a same-named bucket of another account.
_OUR_ACCOUNT = {"StringEquals": {"s3:ResourceAccount": {"Ref": "AWS::AccountId"}}}


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


def policy_document(function: Function, prefix: str, mail_from: str,
                    production: bool = False) -> dict[str, Any]:
    """The function's policy in a stage; `production` leaves out what only the local checkout,
    refused there, would use."""
    access = access_for(function.name)
    statements: list[dict[str, Any]] = [
        {
            "Sid": "Logs",
            "Effect": "Allow",
            "Action": list(LOG_ACTIONS),
            "Resource": _here("logs", f"log-group:{log_group_name(prefix, function.name)}:*"),
        }
    ]
    table_access = access.tables if production else {**access.tables, **access.local_checkout_tables}
    for verbs, tables in _grouped(table_access).items():
        unknown = set(verbs) - set(TABLE_ACTIONS)
        if unknown:
            raise ValueError(f"{function.name}: unknown table verbs {sorted(unknown)}")
        resources = []
        for suffix in tables:
            resources.append(_table(prefix, suffix))
            if {"read", "scan"} & set(verbs):
                resources.append(_table(prefix, suffix, index=True))
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
                "Condition": _OUR_ACCOUNT,
            })
    listed = sorted(p for p, verbs in access.objects.items() if "list" in verbs.split())
    if listed:
        statements.append({
            "Sid": "MediaList",
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": f"arn:aws:s3:::{bucket}",
            "Condition": {"StringLike": {"s3:prefix": [p + "*" for p in listed]}, **_OUR_ACCOUNT},
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
            "Resource": _here("ses", f"identity/{mail_domain(mail_from)}"),
        })
    if access.secrets:
        unknown = set(access.secrets) - set(SECRETS)
        if unknown:
            raise ValueError(f"{function.name}: {sorted(unknown)} not declared in chalicelib/secret_store.py")
        statements.append({
            "Sid": "Secrets",
            "Effect": "Allow",
            "Action": list(SECRET_ACTIONS),
            "Resource": [_here("ssm", "parameter" + secret_parameter(prefix, name))
                         for name in sorted(access.secrets)],
        })
        statements.append({
            # SecureString values are decrypted by SSM with the account's aws/ssm key.
            "Sid": "SecretsKey",
            "Effect": "Allow",
            "Action": "kms:Decrypt",
            "Resource": _here("kms", "key/*"),
            "Condition": {"StringEquals": {
                "kms:ViaService": {"Fn::Sub": "ssm.${AWS::Region}.amazonaws.com"}}},
        })
    return {"Version": "2012-10-17", "Statement": statements}


# --- evaluating a policy (tests and the call trace) ------------------------------------------


# Where the call trace and the tests place the stack: moto's region and account.
REGION, ACCOUNT = "us-east-1", "123456789012"


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def substituted(value: Any, region: str = REGION, account: str = ACCOUNT) -> str:
    """A policy's string as CloudFormation deploys it (Fn::Sub, Ref of the pseudo parameters)."""
    pseudo = {"AWS::Region": region, "AWS::AccountId": account}
    if isinstance(value, dict) and "Ref" in value:
        return pseudo[value["Ref"]]
    if isinstance(value, dict):
        text = value["Fn::Sub"]
        for name, replacement in pseudo.items():
            text = text.replace("${" + name + "}", replacement)
        return text
    return value


def _condition_holds(condition: dict[str, Any], context: dict[str, str]) -> bool:
    for operator, tests in condition.items():
        if operator not in ("StringLike", "StringEquals"):
            return False  # not understood here: never assume it holds
        for key, patterns in tests.items():
            if key not in context:
                return False
            value, expected = context[key], [substituted(p) for p in _listed(patterns)]
            if operator == "StringLike":
                ok = any(fnmatch.fnmatchcase(value, p) for p in expected)
            else:
                ok = value in expected
            if not ok:
                return False
    return True


def allows(policy: dict[str, Any], action: str, resource: str,
           context: dict[str, str] | None = None) -> bool:
    """Whether an Allow statement of the policy (which has no Deny) covers the request, with the
    stack in REGION and ACCOUNT."""
    for statement in _listed(policy["Statement"]):
        if statement["Effect"] != "Allow":
            continue
        if not any(fnmatch.fnmatchcase(action.lower(), a.lower()) for a in _listed(statement["Action"])):
            continue
        if not any(fnmatch.fnmatchcase(resource, substituted(r)) for r in _listed(statement["Resource"])):
            continue
        if _condition_holds(statement.get("Condition", {}), context or {}):
            return True
    return False
