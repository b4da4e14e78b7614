"""Creates a stage's AWS resources in an embedded AWS (moto) from the definitions the
deployment uses: tables from the pynamodb models, the bucket and queues from
infra/resources.json. Safe to run again: what exists is left as it is.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from chalicelib import aws
from chalicelib.models import ALL_MODELS

TEMPLATE = Path(__file__).resolve().parents[2] / "infra" / "resources.json"


@dataclass(frozen=True)
class LocalResources:
    bucket: str
    queue_urls: dict[str, str]  # logical id -> url
    queue_arns: dict[str, str]


def load_template() -> dict[str, Any]:
    return json.loads(TEMPLATE.read_text())


def _resolve(value: Any, stack_name: str, arns: dict[str, str]) -> Any:
    """The few intrinsic functions the template uses, resolved for a local stack."""
    if isinstance(value, dict) and len(value) == 1:
        (fn, arg), = value.items()
        if fn == "Fn::Sub":
            return arg.replace("${AWS::StackName}", stack_name)
        if fn == "Fn::GetAtt" and arg[1] == "Arn":
            return arns[arg[0]]
    if isinstance(value, dict):
        return {k: _resolve(v, stack_name, arns) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, stack_name, arns) for v in value]
    return value


def create_tables() -> None:
    for model in ALL_MODELS:
        if not model.exists():
            model.create_table(wait=True, billing_mode="PAY_PER_REQUEST")


def _lifecycle_rule(rule: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"ID": rule["Id"], "Status": rule["Status"]}
    tags = rule.get("TagFilters")
    if tags:
        out["Filter"] = {"Tag": tags[0]} if len(tags) == 1 else {"And": {"Tags": tags}}
    else:
        out["Filter"] = {"Prefix": rule.get("Prefix", "")}
    if "ExpirationInDays" in rule:
        out["Expiration"] = {"Days": rule["ExpirationInDays"]}
    if "AbortIncompleteMultipartUpload" in rule:
        out["AbortIncompleteMultipartUpload"] = rule["AbortIncompleteMultipartUpload"]
    return out


def local_origin(base_url: str | None) -> str | None:
    """The web client's origin on this machine (the front door, http://127.0.0.1:<port>, from
    APP_BASE_URL), or None unless it is a loopback address."""
    if not base_url:
        return None
    parts = urlsplit(base_url)
    if parts.scheme != "http" or parts.hostname not in ("127.0.0.1", "localhost") or not parts.port:
        return None
    return f"http://{parts.hostname}:{parts.port}"


def cors_rules(props: dict[str, Any], origin: str | None = None) -> list[dict[str, Any]]:
    """The bucket's CORS rules: the template's, and locally the web client's own origin too.

    The browser uploads reference images straight to the bucket (a presigned POST) from the web
    client's origin, which locally the template cannot know. The origin is added to every rule
    rather than in a rule of its own because moto answers a preflight only when *every* rule
    allows its origin (real S3 uses the first rule that matches); a rule allowing POST, GET and
    HEAD is added as well when no template rule allows POST."""
    rules = [
        {
            "AllowedMethods": r["AllowedMethods"],
            "AllowedOrigins": r["AllowedOrigins"] + ([origin] if origin else []),
            "AllowedHeaders": r.get("AllowedHeaders", []),
            "MaxAgeSeconds": r.get("MaxAge", 0),
        }
        for r in props.get("CorsConfiguration", {}).get("CorsRules", [])
    ]
    if origin and not any("POST" in r["AllowedMethods"] for r in rules):
        rules.append({"AllowedMethods": ["POST", "GET", "HEAD"], "AllowedOrigins": [origin],
                      "AllowedHeaders": ["*"], "MaxAgeSeconds": 600})
    return rules


def create_bucket(name: str, props: dict[str, Any], origin: str | None = None) -> None:
    """The bucket as the template describes it; `origin` (a local web client's) may upload."""
    s3 = aws.s3()
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    if name not in existing:
        s3.create_bucket(Bucket=name)
    if "BucketEncryption" in props:
        rules = [
            {
                "ApplyServerSideEncryptionByDefault": rule["ServerSideEncryptionByDefault"],
                "BucketKeyEnabled": rule.get("BucketKeyEnabled", False),
            }
            for rule in props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        ]
        s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": rules})
    if "PublicAccessBlockConfiguration" in props:
        s3.put_public_access_block(
            Bucket=name, PublicAccessBlockConfiguration=props["PublicAccessBlockConfiguration"]
        )
    if "LifecycleConfiguration" in props:
        s3.put_bucket_lifecycle_configuration(
            Bucket=name,
            LifecycleConfiguration={
                "Rules": [_lifecycle_rule(r) for r in props["LifecycleConfiguration"]["Rules"]]
            },
        )
    if props.get("NotificationConfiguration", {}).get("EventBridgeConfiguration", {}).get(
        "EventBridgeEnabled"
    ):
        s3.put_bucket_notification_configuration(
            Bucket=name, NotificationConfiguration={"EventBridgeConfiguration": {}}
        )
    rules = cors_rules(props, origin)
    if rules:
        s3.put_bucket_cors(Bucket=name, CORSConfiguration={"CORSRules": rules})


def create_queues(
    template: dict[str, Any], stack_name: str, visibility_timeout: int | None = None
) -> tuple[dict[str, str], dict[str, str]]:
    sqs = aws.sqs()
    queues = {k: r for k, r in template["Resources"].items() if r["Type"] == "AWS::SQS::Queue"}
    urls: dict[str, str] = {}
    arns: dict[str, str] = {}
    # Dead-letter queues first: the others name them in their redrive policies.
    for logical_id in sorted(queues, key=lambda k: "RedrivePolicy" in queues[k]["Properties"]):
        props = _resolve(queues[logical_id]["Properties"], stack_name, arns)
        attributes = {
            key: str(props[key]) for key in ("VisibilityTimeout", "MessageRetentionPeriod")
            if key in props
        }
        if visibility_timeout is not None:
            attributes["VisibilityTimeout"] = str(visibility_timeout)
        if "RedrivePolicy" in props:
            attributes["RedrivePolicy"] = json.dumps(props["RedrivePolicy"])
        url = sqs.create_queue(QueueName=props["QueueName"], Attributes=attributes)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
        urls[logical_id], arns[logical_id] = url, arn["QueueArn"]
    return urls, arns


def verify_mail_identities(template: dict[str, Any]) -> None:
    ses = aws.ses()
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::SES::EmailIdentity":
            identity = resource["Properties"]["EmailIdentity"]
            if "@" in identity:
                ses.verify_email_identity(EmailAddress=identity)
            else:
                ses.verify_domain_identity(Domain=identity)


def bootstrap(visibility_timeout: int | None = None) -> LocalResources:
    """Everything a stage needs, named by RESOURCE_PREFIX and MEDIA_BUCKET."""
    template = load_template()
    stack_name = os.environ["RESOURCE_PREFIX"]
    create_tables()
    bucket = os.environ["MEDIA_BUCKET"]
    create_bucket(bucket, template["Resources"]["MediaBucket"]["Properties"],
                  local_origin(os.environ.get("APP_BASE_URL")))
    urls, arns = create_queues(template, stack_name, visibility_timeout)
    verify_mail_identities(template)
    return LocalResources(bucket=bucket, queue_urls=urls, queue_arns=arns)
