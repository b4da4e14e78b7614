"""A pytest plugin: every AWS call the test suite makes inside one of app.py's Lambda handlers
is checked against that function's IAM policy (`.chalice/policy-<stage>-<function>.json`). A call
its policy would refuse on AWS fails the run, naming the function, action and resource.

    .venv/bin/python -m pytest -p infra.iam_trace      (make test does this)

A call belongs to the outermost app.py handler on the stack: a route (the API function), or an
event handler by its name. Calls made outside any handler (fixtures, services called directly)
are not checked. Presigned addresses are checked as the requests they sign.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore.client
import botocore.signers
import pytest

from infra import iam

ROOT = Path(__file__).resolve().parents[1]
REGION, ACCOUNT = iam.REGION, iam.ACCOUNT
# A stand-in for the id of the account's aws/ssm key, which SSM decrypts SecureStrings with.
SSM_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/00000000-0000-0000-0000-0000000055a1"

# function -> {(action, resource, context as JSON)}
CALLS: dict[str, set[tuple[str, str, str]]] = {}

_S3_OBJECT_ACTIONS = {
    "GetObject": ("s3:GetObject",), "HeadObject": ("s3:GetObject",),
    "PutObject": ("s3:PutObject",), "CreateMultipartUpload": ("s3:PutObject",),
    "UploadPart": ("s3:PutObject",), "CompleteMultipartUpload": ("s3:PutObject",),
    "AbortMultipartUpload": ("s3:AbortMultipartUpload",), "DeleteObject": ("s3:DeleteObject",),
    "PutObjectTagging": ("s3:PutObjectTagging",), "GetObjectTagging": ("s3:GetObjectTagging",),
}
_TRANSACT_ACTIONS = {"ConditionCheck": "ConditionCheckItem", "Put": "PutItem", "Update": "UpdateItem",
                     "Delete": "DeleteItem", "Get": "GetItem"}


def _function() -> str | None:
    app_module = sys.modules.get("app")
    app_file = getattr(app_module, "__file__", None)
    if app_file is None:
        return None
    outer = None
    frame = sys._getframe(2)
    while frame is not None:
        if frame.f_code.co_filename == app_file:
            outer = frame.f_code.co_name
        frame = frame.f_back
    if outer is None:
        return None
    app = app_module.app  # type: ignore[attr-defined]
    if outer in {source.name for source in app.event_sources}:
        return outer
    views = {entry.view_function.__code__.co_name
             for methods in app.routes.values() for entry in methods.values()}
    return "api_handler" if outer in views else None


def _bucket(name: str) -> str | None:
    """Our bucket under its deployed name (with the account id); None for any other bucket."""
    if name != os.environ.get("MEDIA_BUCKET"):
        return None
    return f"{os.environ['RESOURCE_PREFIX']}-media-{ACCOUNT}"


def _table(name: str, index: str | None = None) -> str:
    return f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}" + (f"/index/{index}" if index else "")


def requests(service: str, operation: str, params: dict[str, Any]) -> Iterator[tuple[str, str, dict]]:
    """(IAM action, resource ARN, condition context) of each authorization a call needs."""
    if service == "dynamodb":
        if operation in ("TransactWriteItems", "TransactGetItems"):
            for item in params.get("TransactItems", []):
                for kind, body in item.items():
                    yield f"dynamodb:{_TRANSACT_ACTIONS[kind]}", _table(body["TableName"]), {}
        elif "RequestItems" in params:
            for table in params["RequestItems"]:
                yield f"dynamodb:{operation}", _table(table), {}
        else:
            yield f"dynamodb:{operation}", _table(params.get("TableName", "*"), params.get("IndexName")), {}
    elif service == "s3":
        bucket = _bucket(params.get("Bucket", ""))
        if bucket is None:
            return
        owner = {"s3:ResourceAccount": ACCOUNT}
        if operation == "DeleteObjects":
            for item in params["Delete"]["Objects"]:
                yield "s3:DeleteObject", f"arn:aws:s3:::{bucket}/{item['Key']}", owner
        elif operation in ("ListObjectsV2", "ListObjects"):
            yield "s3:ListBucket", f"arn:aws:s3:::{bucket}", {"s3:prefix": params.get("Prefix", ""), **owner}
        elif operation in _S3_OBJECT_ACTIONS:
            actions = list(_S3_OBJECT_ACTIONS[operation])
            if operation in ("PutObject", "CreateMultipartUpload") and params.get("Tagging"):
                actions.append("s3:PutObjectTagging")
            for action in actions:
                yield action, f"arn:aws:s3:::{bucket}/{params['Key']}", owner
        else:
            yield f"s3:{operation}", f"arn:aws:s3:::{bucket}", owner
    elif service == "sqs":
        name = params.get("QueueUrl", "*").rsplit("/", 1)[-1]
        yield f"sqs:{operation.removesuffix('Batch')}", f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}", {}
    elif service == "ssm" and operation in ("GetParameter", "GetParameters"):
        names = params.get("Names") or [params.get("Name", "")]
        for name in names:
            yield f"ssm:{operation}", f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/{name.lstrip('/')}", {}
        if params.get("WithDecryption"):
            yield "kms:Decrypt", SSM_KEY, {"kms:ViaService": f"ssm.{REGION}.amazonaws.com"}
    elif service == "ses" and operation in ("SendEmail", "SendRawEmail"):
        domain = iam.mail_domain(params.get("Source", "@unknown"))
        yield f"ses:{operation}", f"arn:aws:ses:{REGION}:{ACCOUNT}:identity/{domain}", {}
    else:
        yield f"{service}:{operation}", "*", {}


def _record(service: str, operation: str, params: dict[str, Any]) -> None:
    function = _function()
    if function is not None:
        seen = CALLS.setdefault(function, set())
        for action, resource, context in requests(service, operation, params):
            seen.add((action, resource, json.dumps(context, sort_keys=True)))


_original_call = botocore.client.BaseClient._make_api_call
_original_presign = botocore.signers.generate_presigned_url
_original_presign_post = botocore.signers.generate_presigned_post


def _make_api_call(self: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
    _record(self.meta.service_model.service_name, operation_name, api_params)
    return _original_call(self, operation_name, api_params)


def _presign(self: Any, ClientMethod: str, Params: Any = None, *args: Any, **kwargs: Any) -> Any:
    operation = self.meta.method_to_api_mapping.get(ClientMethod, ClientMethod)
    _record(self.meta.service_model.service_name, operation, Params or {})
    return _original_presign(self, ClientMethod, Params, *args, **kwargs)


def _presign_post(self: Any, Bucket: str, Key: str, *args: Any, **kwargs: Any) -> Any:
    _record(self.meta.service_model.service_name, "PutObject", {"Bucket": Bucket, "Key": Key})
    return _original_presign_post(self, Bucket, Key, *args, **kwargs)


def pytest_configure(config: pytest.Config) -> None:
    # Clients are built after this (lazily, per process), so they take these methods.
    botocore.client.BaseClient._make_api_call = _make_api_call
    botocore.signers.generate_presigned_url = _presign
    botocore.signers.generate_presigned_post = _presign_post


def refusals(calls: dict[str, set[tuple[str, str, str]]], stage: str) -> list[str]:
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    per_function = config["stages"][stage].get("lambda_functions", {})
    found = []
    for function, seen in sorted(calls.items()):
        policy_file = per_function.get(function, {}).get("iam_policy_file")
        if policy_file is None:
            found.append(f"{function}: no iam_policy_file for stage {stage}")
            continue
        policy = json.loads((ROOT / ".chalice" / policy_file).read_text())
        for action, resource, context in sorted(seen):
            if not iam.allows(policy, action, resource, json.loads(context)):
                found.append(f"{function}: {action} on {resource} {context if context != '{}' else ''}")
    return found


_REFUSED: list[str] = []


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _REFUSED[:] = refusals(CALLS, os.environ.get("STAGE", "dev"))
    if _REFUSED and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any) -> None:
    checked = sum(len(seen) for seen in CALLS.values())
    if not _REFUSED:
        terminalreporter.write_line(
            f"iam_trace: {checked} distinct AWS requests of {len(CALLS)} functions, all allowed "
            "by their policies")
        return
    terminalreporter.section("AWS calls their function's IAM policy would refuse", red=True)
    for line in _REFUSED:
        terminalreporter.write_line(line)
    terminalreporter.write_line("Add the access to infra/iam.py's ACCESS, then run "
                                "RESOURCE_PREFIX=aisora-dev .venv/bin/python -m chalicelib.local.infra")
