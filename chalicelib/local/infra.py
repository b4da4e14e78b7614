"""Writes what the deployment derives from the code, so the code stays its one definition:

- the DynamoDB tables of infra/resources.json, from the pynamodb models (keys, indexes, TTL);
- each Lambda function's part of infra/resources.json, from app.py's declarations and
  infra/iam.py: its environment (bucket, queue URLs, the SSM paths of the secrets it may read,
  never their values), its log group (30 days), its queue (by reference, with partial batch
  responses); an alarm on
  every dead-letter queue, on every schedule that stops running, on the failed-job rate and on
  webhook signature failures;
- each function's least-privilege IAM policy, `.chalice/policy-<stage>-<function>.json`, named
  in `.chalice/config.json` (autogen_policy stays off), for every stage but make run's `local`.

    RESOURCE_PREFIX=aisora-dev .venv/bin/python -m chalicelib.local.infra
        (after changing a model, a handler, or infra/iam.py)

Everything else in infra/resources.json (bucket, queues, mail identity, alarm topic,
parameters) is written by hand and kept as it is. Tests fail when any of this is stale.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pynamodb.attributes import TTLAttribute

from chalicelib import secret_store
from chalicelib.local.bootstrap import TEMPLATE, load_template
from chalicelib.models import ALL_MODELS

ROOT = TEMPLATE.parents[1]
CHALICE_DIR = ROOT / ".chalice"
CONFIG = CHALICE_DIR / "config.json"
LOG_RETENTION_DAYS = 30
# The layer (written by hand in the template, built by infra/package.py) of the image functions.
IMAGE_LAYER = "ImageLibrariesLayer"
# Resource types this module writes; every other resource of the template is kept as written.
GENERATED_TYPES = {"AWS::DynamoDB::Table", "AWS::Serverless::Function", "AWS::Logs::LogGroup",
                   "AWS::CloudWatch::Alarm"}


def _logical_id(table_name: str) -> str:
    suffix = table_name.split("-", 2)[2]  # aisora-<stage>-<suffix>
    return "".join(part.title() for part in suffix.split("-")) + "Table"


def _keys(schema: list[dict[str, str]]) -> list[dict[str, str]]:
    # HASH first, as CloudFormation lists it.
    return sorted(schema, key=lambda k: k["KeyType"] != "HASH")


def table_resource(model: Any) -> tuple[str, dict[str, Any]]:
    schema = model._get_schema()
    suffix = model.Meta.table_name.split("-", 2)[2]
    props: dict[str, Any] = {
        "TableName": {"Fn::Sub": "${AWS::StackName}-" + suffix},
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": sorted(schema["attribute_definitions"], key=lambda a: a["AttributeName"]),
        "KeySchema": _keys(schema["key_schema"]),
        # At most 23 days, so that erased data is gone from backups within the policy's 30.
        "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True, "RecoveryPeriodInDays": 23},
        "SSESpecification": {"SSEEnabled": True},
    }
    for kind, key in (("global_secondary_indexes", "GlobalSecondaryIndexes"),
                      ("local_secondary_indexes", "LocalSecondaryIndexes")):
        indexes = schema.get(kind) or []
        if indexes:
            props[key] = [
                {"IndexName": i["index_name"], "KeySchema": _keys(i["key_schema"]),
                 "Projection": i["projection"]}
                for i in sorted(indexes, key=lambda i: i["index_name"])
            ]
    ttl = next((n for n, a in model.get_attributes().items() if isinstance(a, TTLAttribute)), None)
    if ttl:
        props["TimeToLiveSpecification"] = {"AttributeName": ttl, "Enabled": True}
    return _logical_id(model.Meta.table_name), {
        "Type": "AWS::DynamoDB::Table",
        "DeletionPolicy": "Retain",
        "UpdateReplacePolicy": "Retain",
        "Properties": props,
    }


def with_tables(template: dict[str, Any]) -> dict[str, Any]:
    others = {k: v for k, v in template["Resources"].items() if v.get("Type") != "AWS::DynamoDB::Table"}
    tables = dict(table_resource(model) for model in ALL_MODELS)
    return {**template, "Resources": {**tables, **others}}


# --- the functions ---------------------------------------------------------------------------


def function_logical_id(function: Any) -> str:
    from chalice.utils import to_cfn_resource_name

    return "APIHandler" if function.kind == "api" else to_cfn_resource_name(function.name)


def _queue_ids(resources: dict[str, Any]) -> dict[str, str]:
    """Queue suffix (jobs, jobs-dlq, ...) -> the template's logical id."""
    found = {}
    for logical_id, resource in resources.items():
        if resource.get("Type") == "AWS::SQS::Queue":
            name = resource["Properties"]["QueueName"]["Fn::Sub"]
            found[name.removeprefix("${AWS::StackName}-")] = logical_id
    return found


def _secret_parameters(names: tuple[str, ...]) -> dict[str, str]:
    """The paths of the SecureString parameters the function may read (README, "Deploying to
    AWS"): chalicelib/secret_store.py reads them at its first use of a secret, never deploy time."""
    from infra import iam

    return {"Fn::Sub": ",".join(iam.secret_parameter("${AWS::StackName}", n) for n in sorted(names))}


def function_resources(app: Any, resources: dict[str, Any], prefix: str) -> dict[str, Any]:
    from chalice.utils import to_cfn_resource_name

    from infra import iam

    queues = _queue_ids(resources)
    out: dict[str, Any] = {}
    for function in iam.app_functions(app, prefix):
        access = iam.access_for(function.name)
        logical_id = function_logical_id(function)
        variables: dict[str, Any] = {
            "MEDIA_BUCKET": {"Ref": "MediaBucket"},
            "JOBS_QUEUE_URL": {"Ref": queues["jobs"]},
            "EXPORTS_QUEUE_URL": {"Ref": queues["exports"]},
            "NOTICES_QUEUE_URL": {"Ref": queues["notices"]},
            "VIDEO_PROVIDER": "openai",  # the package has no local renderer
            "LOCAL_CHECKOUT": "false",  # never the local stand-in for a payment provider
        }
        if access.secrets:
            variables[secret_store.PARAMETERS] = _secret_parameters(access.secrets)
        props: dict[str, Any] = {
            "Environment": {"Variables": variables},
            "LoggingConfig": {"LogGroup": {"Ref": logical_id + "LogGroup"}},
        }
        if access.images:
            props["Layers"] = [{"Ref": IMAGE_LAYER}]
        if function.kind == "sqs":
            if function.queue not in queues:
                raise ValueError(f"{function.name} consumes {function.queue!r}, which the template lacks")
            props["Events"] = {to_cfn_resource_name(function.name + "-sqs-event-source"): {"Properties": {
                # Fn::Sub, not Fn::GetAtt: chalice merges dicts key by key, so only the same
                # key replaces its generated ARN string. Either way a reference and a dependency.
                "Queue": {"Fn::Sub": "${" + queues[function.queue] + ".Arn}"},
                "FunctionResponseTypes": ["ReportBatchItemFailures"],
            }}}
        elif function.kind == "event" and "aws.s3" in (function.event_pattern or {}).get("source", []):
            props["Events"] = {to_cfn_resource_name(function.name + "-event"): {"Properties": {
                "Pattern": {"detail": {"bucket": {"name": [{"Ref": "MediaBucket"}]}}},
            }}}
        out[logical_id] = {"Type": "AWS::Serverless::Function", "Properties": props}
        out[logical_id + "LogGroup"] = {
            "Type": "AWS::Logs::LogGroup",
            # Logs go with the stack: they hold nothing kept longer than 30 days anyway.
            "DeletionPolicy": "Delete",
            "UpdateReplacePolicy": "Delete",
            "Properties": {
                "LogGroupName": {"Fn::Sub": "/aws/lambda/${AWS::StackName}-" + function.name},
                "RetentionInDays": LOG_RETENTION_DAYS,
            },
        }
    return out


def dead_letter_alarms(resources: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for resource in resources.values():
        if resource.get("Type") != "AWS::SQS::Queue" or "RedrivePolicy" not in resource["Properties"]:
            continue
        dlq = resource["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
        out[dlq + "Alarm"] = {
            "Type": "AWS::CloudWatch::Alarm",
            "Properties": {
                "AlarmDescription": {
                    "Fn::Sub": "${" + dlq + ".QueueName} holds messages that failed 5 receives"},
                "Namespace": "AWS/SQS",
                "MetricName": "ApproximateNumberOfMessagesVisible",
                "Dimensions": [{"Name": "QueueName", "Value": {"Fn::GetAtt": [dlq, "QueueName"]}}],
                "Statistic": "Maximum",
                "Period": 60,
                "EvaluationPeriods": 1,
                "Threshold": 0,
                "ComparisonOperator": "GreaterThanThreshold",
                "TreatMissingData": "notBreaching",
                "AlarmActions": [{"Ref": "AlarmTopic"}],
                "OKActions": [{"Ref": "AlarmTopic"}],
            },
        }
    return out


def _alarm(description: str, **properties: Any) -> dict[str, Any]:
    return {"Type": "AWS::CloudWatch::Alarm", "Properties": {
        "AlarmDescription": description, **properties,
        "AlarmActions": [{"Ref": "AlarmTopic"}], "OKActions": [{"Ref": "AlarmTopic"}],
    }}


def _our_metric(name: str, statistic: str, period: int, **dimensions: str) -> dict[str, Any]:
    """A metric as observability.metric publishes it: namespace AISora2, by this stack."""
    from chalicelib.observability import NAMESPACE

    return {"MetricStat": {
        "Metric": {"Namespace": NAMESPACE, "MetricName": name, "Dimensions": [
            {"Name": "stack", "Value": {"Ref": "AWS::StackName"}},
            *({"Name": key, "Value": value} for key, value in dimensions.items())]},
        "Period": period, "Stat": statistic}, "ReturnData": False}


_SCHEDULE_UNIT_SECONDS = {"MINUTES": 60, "HOURS": 3600, "DAYS": 86400}
# The share of an hour's videos that may fail before someone is told, once there are enough.
FAILED_JOB_PERCENT, FAILED_JOB_MINIMUM = 20, 10
# Forged or mis-signed webhook requests in 5 minutes: a stray one is noise, a stream is a
# rotated secret not yet deployed, or someone probing.
SIGNATURE_FAILURES = 5


def operations_alarms(app: Any) -> dict[str, Any]:
    """A schedule that did not run (or did not succeed) twice running, a failed-job rate,
    webhook signature failures and any payment webhook that did not match our records; the
    dead-letter queues have theirs above."""
    from chalice.app import Rate, ScheduledEventConfig
    from chalice.utils import to_cfn_resource_name

    out: dict[str, Any] = {}
    for source in app.event_sources:
        if not isinstance(source, ScheduledEventConfig):
            continue
        rate = source.schedule_expression
        if not isinstance(rate, Rate):
            raise ValueError(f"{source.name}: the did-not-run alarm needs a Rate schedule")
        every = rate.value * _SCHEDULE_UNIT_SECONDS[rate.unit]
        runs = _our_metric("SweepRuns", "SampleCount", every, function=source.name)
        out[to_cfn_resource_name(source.name) + "DidNotRunAlarm"] = _alarm(
            f"{source.name} (every {rate.to_string()[5:-1]}) did not run, or failed, twice running",
            Metrics=[{**runs, "Id": "runs"},
                     {"Id": "missing", "Expression": "FILL(runs, 0)", "ReturnData": True}],
            EvaluationPeriods=2, Threshold=1, ComparisonOperator="LessThanThreshold",
            TreatMissingData="breaching",
        )
    hour = 3600
    out["FailedJobRateAlarm"] = _alarm(
        f"More than {FAILED_JOB_PERCENT}% of an hour's videos failed (of at least {FAILED_JOB_MINIMUM})",
        Metrics=[
            {**_our_metric("VideosFailed", "Sum", hour), "Id": "failed"},
            {**_our_metric("VideosRequested", "Sum", hour), "Id": "requested"},
            {"Id": "rate", "ReturnData": True, "Expression":
             f"IF(FILL(requested, 0) >= {FAILED_JOB_MINIMUM}, 100 * FILL(failed, 0) / requested, 0)"},
        ],
        EvaluationPeriods=1, Threshold=FAILED_JOB_PERCENT, ComparisonOperator="GreaterThanThreshold",
        TreatMissingData="notBreaching",
    )
    refused = [{**_our_metric("WebhookEvents", "Sum", 300, provider=provider, type="unverified",
                              outcome="bad_signature"), "Id": provider}
               for provider in ("stripe", "creem", "fal", "replicate")]
    out["WebhookSignatureFailuresAlarm"] = _alarm(
        f"At least {SIGNATURE_FAILURES} webhook requests in 5 minutes failed their signature check",
        Metrics=[*refused, {"Id": "refused", "ReturnData": True,
                            "Expression": " + ".join(f"FILL({m['Id']}, 0)" for m in refused)}],
        EvaluationPeriods=1, Threshold=SIGNATURE_FAILURES,
        ComparisonOperator="GreaterThanOrEqualToThreshold", TreatMissingData="notBreaching",
    )
    out["WebhookMismatchAlarm"] = _alarm(
        "A signed payment webhook claimed what our checkout records or the catalogue do not back "
        "(amount, currency, product, account, subscription or live/test mode); it granted nothing",
        Metrics=[{**_our_metric("WebhookMismatch", "Sum", 300), "Id": "mismatches"},
                 {"Id": "any", "ReturnData": True, "Expression": "FILL(mismatches, 0)"}],
        EvaluationPeriods=1, Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold", TreatMissingData="notBreaching",
    )
    return out


def generated_template(template: dict[str, Any], app: Any, prefix: str) -> dict[str, Any]:
    tables = with_tables(template)["Resources"]
    written = {k: v for k, v in tables.items() if v.get("Type") not in GENERATED_TYPES}
    return {
        **template,
        "Resources": {
            **{k: v for k, v in tables.items() if v["Type"] == "AWS::DynamoDB::Table"},
            **written,
            **function_resources(app, written, prefix),
            **dead_letter_alarms(written),
            **operations_alarms(app),
        },
    }


# --- the policies ----------------------------------------------------------------------------


def policy_file_name(stage: str, function: str) -> str:
    return f"policy-{stage}-{function}.json"


def generated_policies(
    app: Any, config: dict[str, Any], prefix: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the config naming each function's policy file, {file name: policy}) for every stage."""
    from infra import iam

    config = json.loads(json.dumps(config))
    functions = iam.app_functions(app, prefix)
    names = {f.name for f in functions}
    policies: dict[str, Any] = {}
    for stage, stage_config in config["stages"].items():
        if stage == secret_store.LOCAL_STAGE:
            continue  # make run's: never deployed
        env = stage_config["environment_variables"]
        per_function = stage_config.setdefault("lambda_functions", {})
        for name in [n for n, c in per_function.items() if n not in names and set(c) == {"iam_policy_file"}]:
            del per_function[name]
        for function in functions:
            file_name = policy_file_name(stage, function.name)
            per_function.setdefault(function.name, {})["iam_policy_file"] = file_name
            policies[file_name] = iam.policy_document(function, env["RESOURCE_PREFIX"], env["MAIL_FROM"],
                                                      production=env["STAGE"] == "prod")
    return config, policies


def _json(value: Any) -> str:
    return json.dumps(value, indent=2) + "\n"


def main() -> None:
    from app import app

    prefix = os.environ["RESOURCE_PREFIX"]
    TEMPLATE.write_text(_json(generated_template(load_template(), app, prefix)))
    config, policies = generated_policies(app, json.loads(CONFIG.read_text()), prefix)
    CONFIG.write_text(_json(config))
    for stale in set(CHALICE_DIR.glob("policy-*.json")) - {CHALICE_DIR / n for n in policies}:
        stale.unlink()
    for file_name, policy in policies.items():
        (CHALICE_DIR / file_name).write_text(_json(policy))
    print(f"wrote {len(ALL_MODELS)} tables and {len(policies)} function policies "
          f"into {TEMPLATE.relative_to(ROOT)} and {Path(CHALICE_DIR).relative_to(ROOT)}/")


if __name__ == "__main__":
    main()
