"""The deployment, as `make package STAGE=prod` makes it: the packaged template is lint-clean and
keeps every promise of the infrastructure, each function's role is scoped to what it touches,
and the code package is small, free of local-only code and ships its bytecode.

Built once per run (about 20 s): `chalice package` merged with infra/resources.json, then the
package trimmed and precompiled by infra/package.py.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from chalicelib import secret_store
from chalicelib.local import infra
from chalicelib.local.bootstrap import load_template
from chalicelib.models import ALL_MODELS
from chalicelib.services import catalogue
from infra import coldstart, iam, package
from infra.iam_trace import requests

ROOT = Path(__file__).resolve().parents[1]
CONFIG = json.loads((ROOT / ".chalice" / "config.json").read_text())
PROD = CONFIG["stages"]["prod"]["environment_variables"]
PREFIX = PROD["RESOURCE_PREFIX"]
# Whatever the next library brings, the code of every function stays well under this.
PACKAGE_BUDGET_MB = 25
# Never in the code package: the local renderer's and the tests' libraries (Pillow ships only in
# the image functions' layer).
LOCAL_ONLY = ("av", "numpy", "PIL", "pillow.libs", "moto", "pytest", "_pytest", "hypothesis", "playwright",
              "ruff")


@dataclass(frozen=True)
class Packaged:
    out: Path
    template: dict[str, Any]

    @property
    def resources(self) -> dict[str, Any]:
        return self.template["Resources"]

    def of_type(self, kind: str) -> dict[str, Any]:
        return {k: v for k, v in self.resources.items() if v["Type"] == kind}

    @property
    def functions(self) -> dict[str, Any]:
        return self.of_type("AWS::Serverless::Function")

    def ref(self, value: Any) -> str:
        """The logical id an intrinsic names: Ref, Fn::GetAtt [id, Arn] or Fn::Sub ${id.Arn}."""
        if "Ref" in value:
            return value["Ref"]
        if "Fn::GetAtt" in value:
            return value["Fn::GetAtt"][0]
        match = re.fullmatch(r"\$\{(\w+)\.Arn\}", value["Fn::Sub"])
        assert match, value
        return match.group(1)


@pytest.fixture(scope="module")
def packaged(tmp_path_factory: pytest.TempPathFactory) -> Packaged:
    out = tmp_path_factory.mktemp("package") / "prod"
    return Packaged(out, package.package("prod", out))


@pytest.fixture(scope="module")
def functions() -> list[iam.Function]:
    from app import app

    return iam.app_functions(app, "aisora-dev")


def _function_name(packaged: Packaged, logical_id: str) -> str:
    handler = packaged.functions[logical_id]["Properties"]["Handler"]
    return "api_handler" if handler == "app.app" else handler.removeprefix("app.")


# --- the template is lint-clean, and its generated parts are current -------------------------


def test_cfn_lint_finds_nothing_in_the_packaged_template(packaged: Packaged) -> None:
    lint = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), "--include-checks", "I", "--",
         str(packaged.out / "sam.json")],
        capture_output=True, text=True,
    )
    assert lint.returncode == 0 and not lint.stdout.strip(), lint.stdout + lint.stderr


def test_the_generated_template_policies_and_config_are_current() -> None:
    from app import app

    hint = "run: RESOURCE_PREFIX=aisora-dev .venv/bin/python -m chalicelib.local.infra"
    assert load_template() == infra.generated_template(load_template(), app, "aisora-dev"), hint
    config, policies = infra.generated_policies(app, CONFIG, "aisora-dev")
    assert config == CONFIG, hint
    on_disk = {p.name for p in (ROOT / ".chalice").glob("policy-*.json")}
    assert on_disk == set(policies), hint
    for name, policy in policies.items():
        assert json.loads((ROOT / ".chalice" / name).read_text()) == policy, f"{name}: {hint}"


def test_every_function_of_the_app_is_packaged(packaged: Packaged, functions: list[iam.Function]) -> None:
    packaged_names = sorted(_function_name(packaged, f) for f in packaged.functions)
    assert packaged_names == sorted(f.name for f in functions)


def test_the_access_list_names_exactly_the_apps_functions(functions: list[iam.Function]) -> None:
    assert set(iam.ACCESS) == {f.name for f in functions}, "update infra/iam.py's ACCESS"


# --- tables ------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", ALL_MODELS, ids=lambda m: m.Meta.table_name)
def test_each_table_is_on_demand_with_its_ttl_indexes_and_short_recovery_window(packaged: Packaged, model):
    suffix = model.Meta.table_name.removeprefix("aisora-dev-")
    (table,) = [t["Properties"] for t in packaged.of_type("AWS::DynamoDB::Table").values()
                if t["Properties"]["TableName"] == {"Fn::Sub": "${AWS::StackName}-" + suffix}]
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    recovery = table["PointInTimeRecoverySpecification"]
    # Erased data must leave the backups within the policy's 30 days.
    assert recovery["PointInTimeRecoveryEnabled"] is True and 1 <= recovery["RecoveryPeriodInDays"] <= 23
    ttl = infra.table_resource(model)[1]["Properties"].get("TimeToLiveSpecification")
    assert table.get("TimeToLiveSpecification") == ttl
    if ttl:
        assert ttl["Enabled"] is True
    schema = model._get_schema()
    for kind, key in (("global_secondary_indexes", "GlobalSecondaryIndexes"),
                      ("local_secondary_indexes", "LocalSecondaryIndexes")):
        wanted = {i["index_name"] for i in schema.get(kind) or []}
        assert {i["IndexName"] for i in table.get(key, [])} == wanted


# --- the bucket --------------------------------------------------------------------------------


def test_the_bucket_is_private_encrypted_and_tells_eventbridge(packaged: Packaged) -> None:
    bucket = packaged.resources["MediaBucket"]["Properties"]
    assert bucket["BucketName"] == {"Fn::Sub": "${AWS::StackName}-media-${AWS::AccountId}"}
    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True, "BlockPublicPolicy": True, "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True}
    assert bucket["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}  # no ACLs
    (rule,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms" and rule["BucketKeyEnabled"]
    assert bucket["NotificationConfiguration"]["EventBridgeConfiguration"]["EventBridgeEnabled"] is True
    # Versions would keep the files that deletion and erasure remove.
    assert "VersioningConfiguration" not in bucket


def test_the_web_client_alone_may_upload_to_the_bucket_from_a_browser(packaged: Packaged) -> None:
    (rule,) = packaged.resources["MediaBucket"]["Properties"]["CorsConfiguration"]["CorsRules"]
    assert rule["AllowedOrigins"] == [PROD["APP_BASE_URL"].rstrip("/")]
    assert "POST" in rule["AllowedMethods"] and not {"PUT", "DELETE"} & set(rule["AllowedMethods"])


def test_the_bucket_refuses_every_request_without_tls(packaged: Packaged) -> None:
    (policy,) = packaged.of_type("AWS::S3::BucketPolicy").values()
    assert policy["Properties"]["Bucket"] == {"Ref": "MediaBucket"}
    refusals = [s for s in policy["Properties"]["PolicyDocument"]["Statement"]
                if s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}]
    assert len(refusals) == 1
    (refusal,) = refusals
    assert refusal["Principal"] == "*" and refusal["Action"] == "s3:*"
    assert refusal["Resource"] == [{"Fn::GetAtt": ["MediaBucket", "Arn"]},
                                   {"Fn::Sub": "${MediaBucket.Arn}/*"}]


def test_the_lifecycle_backstop_follows_each_plan_and_ends_incomplete_uploads(packaged: Packaged) -> None:
    rules = packaged.resources["MediaBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    assert all(r["Status"] == "Enabled" for r in rules)
    by_tag = {r["TagFilters"][0]["Value"]: r["ExpirationInDays"] for r in rules if "TagFilters" in r}
    assert by_tag == {str(p.retention_days): p.retention_days + 1 for p in catalogue.PLANS.values()}
    aborts = [r for r in rules if "AbortIncompleteMultipartUpload" in r]
    assert [(r["Prefix"], r["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"])
            for r in aborts] == [("", 1)]


# --- queues ------------------------------------------------------------------------------------


def test_every_queue_is_encrypted(packaged: Packaged) -> None:
    queues = packaged.of_type("AWS::SQS::Queue")
    assert queues
    for name, queue in queues.items():
        props = queue["Properties"]
        assert props.get("SqsManagedSseEnabled") is True or "KmsMasterKeyId" in props, name


def _sqs_sources(packaged: Packaged) -> list[tuple[str, dict[str, Any]]]:
    return [(logical_id, event["Properties"])
            for logical_id, function in packaged.functions.items()
            for event in function["Properties"].get("Events", {}).values() if event["Type"] == "SQS"]


def test_each_consumed_queue_is_the_templates_and_outlives_six_runs_of_its_consumer(packaged: Packaged):
    sources = _sqs_sources(packaged)
    consumers = {_function_name(packaged, f) for f, _ in sources}
    assert consumers >= {"generate_video", "build_export", "send_notices"}
    for logical_id, source in sources:
        queue = packaged.resources[packaged.ref(source["Queue"])]
        assert queue["Type"] == "AWS::SQS::Queue", logical_id
        timeout = packaged.functions[logical_id]["Properties"]["Timeout"]
        assert queue["Properties"]["VisibilityTimeout"] >= 6 * timeout, logical_id


def test_each_consumed_queue_dead_letters_after_five_receives_into_a_queue_kept_14_days(packaged: Packaged):
    for logical_id, source in _sqs_sources(packaged):
        redrive = packaged.resources[packaged.ref(source["Queue"])]["Properties"]["RedrivePolicy"]
        assert redrive["maxReceiveCount"] == 5, logical_id
        dead_letters = packaged.resources[packaged.ref(redrive["deadLetterTargetArn"])]["Properties"]
        assert dead_letters["MessageRetentionPeriod"] == 14 * 24 * 3600, logical_id


def test_each_sqs_handler_may_report_partial_batch_failures(packaged: Packaged) -> None:
    # Set on every SQS source: returning nothing still means the whole batch succeeded, and a
    # handler that returns batchItemFailures is honoured.
    for logical_id, source in _sqs_sources(packaged):
        assert source["FunctionResponseTypes"] == ["ReportBatchItemFailures"], logical_id


def test_an_alarm_tells_when_any_dead_letter_queue_holds_a_message(packaged: Packaged) -> None:
    dead_letter_queues = {packaged.ref(q["Properties"]["RedrivePolicy"]["deadLetterTargetArn"])
                          for q in packaged.of_type("AWS::SQS::Queue").values()
                          if "RedrivePolicy" in q["Properties"]}
    assert len(dead_letter_queues) >= 3
    watched = set()
    for alarm in packaged.of_type("AWS::CloudWatch::Alarm").values():
        props = alarm["Properties"]
        if props.get("MetricName") != "ApproximateNumberOfMessagesVisible":
            continue
        assert props["ComparisonOperator"] == "GreaterThanThreshold" and props["Threshold"] == 0
        assert props["AlarmActions"] == [{"Ref": "AlarmTopic"}]
        (dimension,) = props["Dimensions"]
        watched.add(dimension["Value"]["Fn::GetAtt"][0])
    assert watched == dead_letter_queues


def _watched(alarm: dict[str, Any]) -> dict[str, tuple[str, dict[str, Any], int, str]]:
    """{query id: (metric name, dimensions, period, statistic)} of a metric-math alarm's metrics,
    each checked to be one of ours, by this stack (as observability publishes them)."""
    found = {}
    for query in alarm["Properties"]["Metrics"]:
        if "MetricStat" not in query:
            continue
        stat = query["MetricStat"]
        dimensions = {d["Name"]: d["Value"] for d in stat["Metric"]["Dimensions"]}
        assert stat["Metric"]["Namespace"] == "AISora2"
        assert dimensions.pop("stack") == {"Ref": "AWS::StackName"}
        found[query["Id"]] = (stat["Metric"]["MetricName"], dimensions, stat["Period"], stat["Stat"])
    return found


def test_every_schedule_has_an_alarm_for_when_it_stops_running(packaged: Packaged) -> None:
    from chalice.app import ScheduledEventConfig

    from app import app

    seconds = {"MINUTES": 60, "HOURS": 3600, "DAYS": 86400}
    schedules = {source.name: source.schedule_expression.value * seconds[source.schedule_expression.unit]
                 for source in app.event_sources if isinstance(source, ScheduledEventConfig)}
    assert {"erase_closed_accounts", "expire_videos", "fail_stuck_jobs"} <= set(schedules)
    alarmed = {}
    for alarm in packaged.of_type("AWS::CloudWatch::Alarm").values():
        if "Metrics" not in alarm["Properties"]:
            continue
        runs = [w for w in _watched(alarm).values() if w[0] == "SweepRuns"]
        if not runs:
            continue
        ((_, dimensions, period, statistic),) = runs
        props = alarm["Properties"]
        # No run in two periods of the schedule (missing data counts) sets it off.
        assert (statistic, props["EvaluationPeriods"]) == ("SampleCount", 2)
        assert props["TreatMissingData"] == "breaching"
        assert (props["ComparisonOperator"], props["Threshold"]) == ("LessThanThreshold", 1)
        assert props["AlarmActions"] == [{"Ref": "AlarmTopic"}]
        alarmed[dimensions["function"]] = period
    assert alarmed == schedules


def test_an_alarm_tells_when_too_many_videos_fail(packaged: Packaged) -> None:
    alarm = packaged.resources["FailedJobRateAlarm"]
    watched = _watched(alarm)
    assert {name for name, *_ in watched.values()} == {"VideosFailed", "VideosRequested"}
    assert all(dimensions == {} and statistic == "Sum" for _, dimensions, _, statistic in watched.values())
    (expression,) = [q["Expression"] for q in alarm["Properties"]["Metrics"] if q.get("ReturnData")]
    ids = {name: query_id for query_id, (name, *_) in watched.items()}
    failed, requested = ids["VideosFailed"], ids["VideosRequested"]
    assert f"100 * FILL({failed}, 0) / {requested}" in expression
    assert alarm["Properties"]["Threshold"] == infra.FAILED_JOB_PERCENT


# --- schedules, events, mail ---------------------------------------------------------------------


def test_each_schedule_of_the_app_runs_at_its_rate(packaged: Packaged, functions: list[iam.Function]):
    from chalice.app import ScheduledEventConfig

    from app import app

    wanted = {s.name: s.schedule_expression.to_string() for s in app.event_sources
              if isinstance(s, ScheduledEventConfig)}
    found = {}
    for logical_id, function in packaged.functions.items():
        for event in function["Properties"].get("Events", {}).values():
            if event["Type"] == "Schedule":
                found[_function_name(packaged, logical_id)] = event["Properties"]["Schedule"]
    assert found == wanted and len(wanted) >= 8


def test_bucket_events_reach_their_handler_only_from_the_media_bucket(packaged: Packaged) -> None:
    for function in packaged.functions.values():
        for event in function["Properties"].get("Events", {}).values():
            pattern = event["Properties"].get("Pattern", {})
            if "aws.s3" in pattern.get("source", []):
                assert pattern["detail"]["bucket"]["name"] == [{"Ref": "MediaBucket"}]


def test_the_mail_identity_is_the_domain_mail_is_sent_from(packaged: Packaged) -> None:
    (identity,) = packaged.of_type("AWS::SES::EmailIdentity").values()
    assert identity["Properties"]["EmailIdentity"] == iam.mail_domain(PROD["MAIL_FROM"])


# --- environment and secrets -------------------------------------------------------------------


def test_each_function_finds_the_templates_bucket_and_queues(packaged: Packaged) -> None:
    for logical_id, function in packaged.functions.items():
        variables = function["Properties"]["Environment"]["Variables"]
        assert variables["MEDIA_BUCKET"] == {"Ref": "MediaBucket"}, logical_id
        for variable, queue in (("JOBS_QUEUE_URL", "JobsQueue"), ("EXPORTS_QUEUE_URL", "ExportsQueue"),
                                ("NOTICES_QUEUE_URL", "NoticesQueue")):
            assert variables[variable] == {"Ref": queue}, logical_id
        assert variables["RESOURCE_PREFIX"] == PREFIX and variables["VIDEO_PROVIDER"] == "openai"
        assert variables["LOCAL_CHECKOUT"] == "false", logical_id


def test_no_function_has_a_secret_in_its_environment_only_the_paths_of_its_own(packaged: Packaged) -> None:
    for logical_id, function in packaged.functions.items():
        variables = function["Properties"]["Environment"]["Variables"]
        assert not set(variables) & set(secret_store.SECRETS), logical_id
        assert "{{resolve:" not in json.dumps(variables), logical_id
        granted = iam.access_for(_function_name(packaged, logical_id)).secrets
        handed = variables.get(secret_store.PARAMETERS, {"Fn::Sub": ""})["Fn::Sub"]
        assert sorted(filter(None, handed.split(","))) == sorted(
            iam.secret_parameter("${AWS::StackName}", name) for name in granted), logical_id
    assert "resolve:ssm" not in json.dumps(packaged.template)
    assert "SecretsRevision" not in packaged.template.get("Parameters", {})
    for stage in CONFIG["stages"].values():
        assert not set(stage["environment_variables"]) & set(secret_store.SECRETS)


def test_each_function_logs_to_its_own_group_kept_30_days_at_most(packaged: Packaged) -> None:
    for logical_id, function in packaged.functions.items():
        group = packaged.resources[function["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]]
        assert group["Type"] == "AWS::Logs::LogGroup"
        assert 1 <= group["Properties"]["RetentionInDays"] <= 30, logical_id
        name = group["Properties"]["LogGroupName"]["Fn::Sub"].replace("${AWS::StackName}", PREFIX)
        assert name == iam.log_group_name(PREFIX, _function_name(packaged, logical_id))


# --- IAM -----------------------------------------------------------------------------------------

_SCOPED_SERVICES = ("dynamodb", "s3", "sqs", "ses", "logs", "ssm", "kms")
# Any table, any queue, the whole bucket or any log group of the stage: never one statement.
_TOO_WIDE = r"table/[^/]*\*|:sqs:[^:]*:[^:]*:[^:]*\*|\?{12}/\*$|log-group:[^:]*\*|parameter/[^/]*/?\*"
# The stack's own region and account, as CloudFormation substitutes them.
_HERE = "${AWS::Region}:${AWS::AccountId}"


def _role_policy(packaged: Packaged, logical_id: str) -> dict[str, Any]:
    role = packaged.resources[packaged.functions[logical_id]["Properties"]["Role"]["Fn::GetAtt"][0]]
    (policy,) = role["Properties"]["Policies"]
    return policy["PolicyDocument"]


def test_autogenerated_policies_stay_off() -> None:
    assert CONFIG["autogen_policy"] is False


def test_each_function_has_a_role_of_its_own_made_from_its_access(
    packaged: Packaged, functions: list[iam.Function]
) -> None:
    roles = [packaged.functions[f]["Properties"]["Role"]["Fn::GetAtt"][0] for f in packaged.functions]
    assert len(set(roles)) == len(roles)
    by_name = {f.name: f for f in functions}
    for logical_id in packaged.functions:
        function = by_name[_function_name(packaged, logical_id)]
        assert _role_policy(packaged, logical_id) == iam.policy_document(
            function, PREFIX, PROD["MAIL_FROM"], production=True)


def test_no_role_reaches_beyond_its_own_stacks_resources(packaged: Packaged) -> None:
    bucket = f"arn:aws:s3:::{iam.bucket_pattern(PREFIX)}"
    owned = (f"arn:aws:dynamodb:{_HERE}:table/{PREFIX}-", bucket, f"arn:aws:sqs:{_HERE}:{PREFIX}-",
             f"arn:aws:logs:{_HERE}:log-group:/aws/lambda/{PREFIX}-",
             f"arn:aws:ses:{_HERE}:identity/{iam.mail_domain(PROD['MAIL_FROM'])}",
             f"arn:aws:ssm:{_HERE}:parameter/{PREFIX}/")
    the_ssm_key = f"arn:aws:kms:{_HERE}:key/*"
    for logical_id in packaged.functions:
        for statement in _role_policy(packaged, logical_id)["Statement"]:
            assert statement["Effect"] == "Allow"
            actions, resources = (v if isinstance(v, list) else [v]
                                  for v in (statement["Action"], statement["Resource"]))
            for action in actions:
                service, _, verb = action.partition(":")
                assert service in _SCOPED_SERVICES and "*" not in verb, (logical_id, action)
            condition = statement.get("Condition", {})
            for resource in resources:
                arn = resource["Fn::Sub"] if isinstance(resource, dict) else resource
                if arn == the_ssm_key:  # decrypting only what SSM asks to, for this role's reads
                    assert actions == ["kms:Decrypt"] and condition == {"StringEquals": {
                        "kms:ViaService": {"Fn::Sub": "ssm.${AWS::Region}.amazonaws.com"}}}
                    continue
                assert arn.startswith(owned), (logical_id, arn)
                assert not re.search(_TOO_WIDE, arn), (logical_id, arn)
                if arn.startswith(bucket):
                    assert condition["StringEquals"] == {"s3:ResourceAccount": {"Ref": "AWS::AccountId"}}


def test_the_bucket_pattern_in_the_policies_is_the_templates_bucket_and_nothing_else() -> None:
    pattern = iam.bucket_pattern(PREFIX)
    assert re.fullmatch(pattern.replace("?", "[0-9]"), f"{PREFIX}-media-123456789012")
    policy = {"Statement": [{"Effect": "Allow", "Action": "s3:GetObject",
                             "Resource": f"arn:aws:s3:::{pattern}/videos/*"}]}
    bucket = f"arn:aws:s3:::{PREFIX}-media-123456789012"
    assert iam.allows(policy, "s3:GetObject", f"{bucket}/videos/u/j/video.mp4")
    # A key that merely contains the prefix is another part of the bucket.
    assert not iam.allows(policy, "s3:GetObject", f"{bucket}/uploads/videos/x")
    assert not iam.allows(policy, "s3:GetObject", f"{bucket}3/videos/x")


def _allowed(function: str, action: str, resource: str, context: dict[str, str] | None = None) -> bool:
    from app import app

    (spec,) = [f for f in iam.app_functions(app, "aisora-dev") if f.name == function]
    policy = iam.policy_document(spec, PREFIX, PROD["MAIL_FROM"], production=True)
    return iam.allows(policy, action, resource, context)


def test_the_ledger_is_append_only_but_for_the_erasure_and_the_seven_year_sweep() -> None:
    ledger = f"arn:aws:dynamodb:us-east-1:123456789012:table/{PREFIX}-credit-ledger"
    may_delete = {f for f in iam.ACCESS if _allowed(f, "dynamodb:DeleteItem", ledger)}
    may_update = {f for f in iam.ACCESS if _allowed(f, "dynamodb:UpdateItem", ledger)}
    assert may_delete == {"erase_closed_accounts", "purge_old_ledger_rows"}
    assert may_update == set()
    assert _allowed("api_handler", "dynamodb:PutItem", ledger)


def test_listing_the_bucket_is_limited_to_the_prefixes_erasure_empties() -> None:
    bucket = f"arn:aws:s3:::{PREFIX}-media-123456789012"
    ours = {"s3:ResourceAccount": iam.ACCOUNT}
    assert _allowed("erase_closed_accounts", "s3:ListBucket", bucket, {"s3:prefix": "videos/u1/", **ours})
    assert not _allowed("erase_closed_accounts", "s3:ListBucket", bucket, {"s3:prefix": "", **ours})
    assert not _allowed("api_handler", "s3:ListBucket", bucket, {"s3:prefix": "videos/u1/", **ours})


def test_the_bucket_pattern_reaches_only_this_accounts_bucket() -> None:
    key = f"arn:aws:s3:::{PREFIX}-media-123456789012/videos/u/j/video.mp4"
    assert _allowed("expire_videos", "s3:DeleteObject", key, {"s3:ResourceAccount": iam.ACCOUNT})
    assert not _allowed("expire_videos", "s3:DeleteObject", key, {"s3:ResourceAccount": "210987654321"})


def test_the_production_api_may_not_write_the_local_checkouts_table() -> None:
    table = f"arn:aws:dynamodb:{iam.REGION}:{iam.ACCOUNT}:table/{PREFIX}-local-checkouts"
    assert not any(_allowed("api_handler", action, table)
                   for action in ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"))
    assert not _allowed("api_handler", "dynamodb:UpdateItem",
                        f"arn:aws:dynamodb:{iam.REGION}:{iam.ACCOUNT}:table/{PREFIX}-tokens")


def test_each_schedule_calls_aws_only_as_its_policy_allows(client, monkeypatch) -> None:
    """The sweeps the other tests run through their services, run here as Lambda runs them, years
    on, when everything is due: under make test, each of their calls is checked against their
    function's policy (infra/iam_trace.py); here too, without the plugin."""
    import botocore.client
    import time_machine
    from chalice.app import ScheduledEventConfig
    from chalice.local import LambdaContext
    from conftest import post, signup_body

    from app import app
    from infra import iam_trace

    if botocore.client.BaseClient._make_api_call is not iam_trace._make_api_call:
        monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", iam_trace._make_api_call)
    token = post(client, "/auth/signup", signup_body()).json_body["access_token"]
    post(client, "/privacy/requests", {"type": "access", "message": "a copy please"}, token)
    schedules = [s.name for s in app.event_sources if isinstance(s, ScheduledEventConfig)]
    event = {"version": "0", "id": "0", "detail-type": "Scheduled Event", "source": "aws.events",
             "account": "123456789012", "time": "2034-01-01T00:00:00Z", "region": "us-east-1",
             "resources": [], "detail": {}}
    with time_machine.travel(datetime.now(UTC) + timedelta(days=7 * 366), tick=False):
        for name in schedules:
            app.handler_map[name](event, LambdaContext(name, memory_size=512, max_runtime_ms=30_000))
    assert set(schedules) <= set(iam_trace.CALLS), "every sweep reads its index or table"
    assert iam_trace.refusals({name: iam_trace.CALLS[name] for name in schedules}, "dev") == []


def test_the_call_trace_reports_what_a_policy_refuses() -> None:
    from infra.iam_trace import refusals

    ledger = "arn:aws:dynamodb:us-east-1:123456789012:table/aisora-dev-credit-ledger"
    calls = {"generate_video": {("dynamodb:PutItem", ledger, "{}"), ("dynamodb:DeleteItem", ledger, "{}")}}
    assert refusals(calls, "dev") == [f"generate_video: dynamodb:DeleteItem on {ledger} "]


def test_the_call_trace_asks_what_aws_would_authorize() -> None:
    transaction = {"TransactItems": [{"Put": {"TableName": "t1"}}, {"Update": {"TableName": "t2"}}]}
    assert [r[0] for r in requests("dynamodb", "TransactWriteItems", transaction)] == [
        "dynamodb:PutItem", "dynamodb:UpdateItem"]
    (query,) = requests("dynamodb", "Query", {"TableName": "t", "IndexName": "by_user"})
    assert query[1].endswith(":table/t/index/by_user")
    (send,) = requests("sqs", "SendMessage", {"QueueUrl": "https://sqs/123/aisora-dev-jobs"})
    assert send[:2] == ("sqs:SendMessage", "arn:aws:sqs:us-east-1:123456789012:aisora-dev-jobs")
    read, decrypt = requests("ssm", "GetParameters",
                             {"Names": ["/aisora-dev/JWT_SECRET"], "WithDecryption": True})
    assert read[:2] == ("ssm:GetParameters",
                        "arn:aws:ssm:us-east-1:123456789012:parameter/aisora-dev/JWT_SECRET")
    assert decrypt[0] == "kms:Decrypt" and decrypt[2] == {"kms:ViaService": "ssm.us-east-1.amazonaws.com"}


# --- the code package ----------------------------------------------------------------------------


def test_the_functions_that_decode_images_have_the_memory_for_the_largest_allowed(packaged: Packaged) -> None:
    # A 24 megapixel lossless WebP peaks near 370 MB above the interpreter (bench/images.py).
    for name in ("APIHandler", "CheckUpload", "GenerateVideo"):
        assert packaged.functions[name]["Properties"]["MemorySize"] >= 1024, name


def test_every_function_runs_the_trimmed_package(packaged: Packaged) -> None:
    assert {f["Properties"]["CodeUri"] for f in packaged.functions.values()} == {"./deployment.zip"}
    size_mb = (packaged.out / "deployment.zip").stat().st_size / 1e6
    assert size_mb < PACKAGE_BUDGET_MB, f"the package grew to {size_mb:.1f} MB"


def test_the_package_has_no_local_only_code_nor_the_runtimes_sdk(packaged: Packaged) -> None:
    with zipfile.ZipFile(packaged.out / "deployment.zip") as archive:
        names = archive.namelist()
    tops = {n.split("/", 1)[0] for n in names}
    assert "app.py" in tops and "chalicelib" in tops and "chalice" in tops
    unwanted = tops & {*LOCAL_ONLY, *package.RUNTIME_PROVIDED}
    assert not unwanted, sorted(unwanted)
    assert not [n for n in names if n.startswith(package.EXCLUDED_PATHS)]


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins(path: Path) -> dict[str, str]:
    pairs = [line.split("==") for line in path.read_text().splitlines() if line and not line.startswith("#")]
    return {_canonical(name): version for name, version in pairs}


def _shipped(archive_path: Path, under: str = "") -> tuple[dict[str, str], list[str]]:
    """{distribution: version} of an archive's wheels, and those built for a newer glibc than
    the python3.11 runtime's (Amazon Linux 2: 2.26; a wheel may list newer tags too)."""
    shipped, too_new = {}, []
    with zipfile.ZipFile(archive_path) as archive:
        for name in archive.namelist():
            folder, _, file_name = name.removeprefix(under).partition("/")
            if not name.startswith(under) or not folder.endswith(".dist-info"):
                continue
            distribution, version = folder.removesuffix(".dist-info").rsplit("-", 1)
            shipped[_canonical(distribution)] = version
            if file_name == "WHEEL":
                tags = [line.split(": ")[1] for line in archive.read(name).decode().splitlines()
                        if line.startswith("Tag: ")]
                glibc = [tuple(map(int, m.groups())) for tag in tags
                         if (m := re.search(r"manylinux_(\d+)_(\d+)_", tag))]
                if glibc and min(glibc) > (2, 26):
                    too_new.append(f"{folder}: {tags}")
    return shipped, too_new


def test_the_package_holds_the_locked_versions_built_for_the_runtimes_glibc(packaged: Packaged) -> None:
    runtime_provided = {_canonical(n) for n in package.RUNTIME_PROVIDED}
    shipped, too_new = _shipped(packaged.out / "deployment.zip")
    locked = _pins(ROOT / "requirements.txt")
    assert shipped == {n: v for n, v in locked.items() if n not in runtime_provided}
    assert too_new == []
    in_layer, too_new = _shipped(packaged.out / package.IMAGE_LAYER, "python/")
    assert in_layer == _pins(package.IMAGE_REQUIREMENTS)
    assert too_new == []


def test_every_module_ships_unchecked_hash_bytecode_for_the_runtime(packaged: Packaged) -> None:
    runtime = packaged.functions["APIHandler"]["Properties"]["Runtime"]
    tag = "cpython-" + runtime.removeprefix("python").replace(".", "")
    with zipfile.ZipFile(packaged.out / "deployment.zip") as archive:
        names = set(archive.namelist())
        sources = [n for n in names if n.endswith(".py")]
        assert len(sources) > 1000
        for source in sources:
            folder, _, file_name = source.rpartition("/")
            cached = f"{folder}/__pycache__/{file_name[:-3]}.{tag}.pyc".lstrip("/")
            assert cached in names, source
        for cached in [n for n in names if n.endswith(".pyc")][:200]:
            header = archive.read(cached)[:8]
            assert header[:4] == importlib.util.MAGIC_NUMBER
            assert int.from_bytes(header[4:8], "little") == 0b01, cached  # hash-based, never checked


def test_the_app_imports_from_the_read_only_package_with_only_the_runtimes_sdk(packaged: Packaged) -> None:
    with coldstart.unpacked(packaged.out / "deployment.zip") as (with_bytecode, _without, runtime):
        loaded = coldstart.probe(with_bytecode, runtime, coldstart.lambda_env())
    assert loaded["outside"] == []  # nothing from this machine's site-packages
    assert loaded["uncompiled"] == []  # every module came with its bytecode


IMAGE_PROBE = """
import io, json, sys
sys.path[:0] = sys.argv[1:]
from chalicelib.adapters import images
try:
    from PIL import Image
except ImportError:
    print(json.dumps({"pillow": None}))
    raise SystemExit
checked = []
for kind in ("JPEG", "PNG", "WEBP"):
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 80, 40)).save(out, kind)
    checked.append(images.fit(images.clean(out.getvalue()), "720x1280").content_type)
print(json.dumps({"pillow": Image.__file__, "checked": checked}))
"""


def test_the_image_layer_checks_every_type_and_the_package_alone_has_no_pillow(packaged: Packaged) -> None:
    def probe(*paths: Path) -> dict[str, Any]:
        answer = subprocess.run([sys.executable, "-S", "-c", IMAGE_PROBE, *map(str, paths)],
                                env=coldstart.lambda_env(), capture_output=True, text=True, check=True)
        return json.loads(answer.stdout.strip().splitlines()[-1])

    with coldstart.unpacked(packaged.out / "deployment.zip") as (code, _without, runtime), \
            tempfile.TemporaryDirectory() as opt:
        with zipfile.ZipFile(packaged.out / package.IMAGE_LAYER) as layer:
            layer.extractall(opt)  # Lambda unpacks a layer in /opt; /opt/python is on sys.path
        assert probe(code, runtime) == {"pillow": None}
        with_layer = probe(Path(opt) / "python", code, runtime)
    assert with_layer["pillow"].startswith(str(Path(opt) / "python"))
    # The trimmed Pillow still checks and fits every type of reference image.
    assert with_layer["checked"] == ["image/jpeg", "image/png", "image/webp"]


def test_only_the_functions_that_decode_images_run_with_the_image_layer(packaged: Packaged) -> None:
    (layer_id,) = packaged.of_type("AWS::Serverless::LayerVersion")
    layer = packaged.resources[layer_id]["Properties"]
    assert (packaged.out / layer["ContentUri"]).name == package.IMAGE_LAYER
    runtimes = {f["Properties"]["Runtime"] for f in packaged.functions.values()}
    assert layer["CompatibleRuntimes"] == sorted(runtimes)
    with_layer = {name for name, f in packaged.functions.items()
                  if {"Ref": layer_id} in f["Properties"].get("Layers", [])}
    assert with_layer == {"APIHandler", "CheckUpload", "GenerateVideo"}
    with zipfile.ZipFile(packaged.out / package.IMAGE_LAYER) as archive:
        names = archive.namelist()
    assert any(n.startswith("python/PIL/_imaging.") for n in names)
    assert not [n for n in names if n.startswith(tuple(f"python/{u}" for u in package.UNUSED_NATIVE))]
