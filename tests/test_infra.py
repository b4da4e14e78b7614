"""The deployment's definitions and the local stack's agree: tables, bucket, queues."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
from pynamodb.attributes import TTLAttribute

from chalicelib import aws
from chalicelib.local.bootstrap import load_template
from chalicelib.models import ALL_MODELS
from chalicelib.services import catalogue

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = load_template()
RESOURCES = TEMPLATE["Resources"]


def _template_table(table_name: str) -> dict:
    suffix = table_name.removeprefix("aisora-dev-")
    for resource in RESOURCES.values():
        if resource["Type"] == "AWS::DynamoDB::Table" and \
                resource["Properties"]["TableName"]["Fn::Sub"] == "${AWS::StackName}-" + suffix:
            return resource["Properties"]
    raise AssertionError(f"infra/resources.json declares no table for {table_name}")


def _keys(schema: list[dict]) -> list[tuple[str, str]]:
    return sorted((k["KeyType"], k["AttributeName"]) for k in schema)


def _indexes(table: dict, kind: str) -> dict[str, tuple[list[tuple[str, str]], str]]:
    return {i["IndexName"]: (_keys(i["KeySchema"]), i["Projection"]["ProjectionType"])
            for i in table.get(kind, [])}


@pytest.mark.policy("encryption")
@pytest.mark.parametrize("model", ALL_MODELS, ids=lambda m: m.Meta.table_name)
def test_each_table_made_from_the_models_matches_the_template(world, model):
    declared = _template_table(model.Meta.table_name)
    created = boto3.client("dynamodb").describe_table(TableName=model.Meta.table_name)["Table"]
    assert _keys(declared["KeySchema"]) == _keys(created["KeySchema"])
    assert {(a["AttributeName"], a["AttributeType"]) for a in declared["AttributeDefinitions"]} == {
        (a["AttributeName"], a["AttributeType"]) for a in created["AttributeDefinitions"]
    }
    for kind in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
        assert _indexes(declared, kind) == _indexes(created, kind)
    assert declared["BillingMode"] == created["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    ttl_attribute = next((name for name, attr in model.get_attributes().items()
                          if isinstance(attr, TTLAttribute)), None)
    assert declared.get("TimeToLiveSpecification", {}).get("AttributeName") == ttl_attribute


def test_the_templates_tables_are_the_ones_written_from_the_models():
    from chalicelib.local.infra import with_tables

    generated = with_tables(TEMPLATE)["Resources"]
    declared = {k: v for k, v in RESOURCES.items() if v["Type"] == "AWS::DynamoDB::Table"}
    assert declared == {k: v for k, v in generated.items() if v["Type"] == "AWS::DynamoDB::Table"}, (
        "run: .venv/bin/python -m chalicelib.local.infra"
    )


@pytest.mark.parametrize("queue", ["JobsQueue", "ExportsQueue"])
def test_each_queue_dead_letters_after_five_receives_and_keeps_them_14_days(queue):
    props = RESOURCES[queue]["Properties"]
    assert props["RedrivePolicy"]["maxReceiveCount"] == 5
    dlq = props["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
    assert RESOURCES[dlq]["Properties"]["MessageRetentionPeriod"] == 14 * 24 * 3600


def test_lifecycle_backstop_is_each_plans_period_plus_one_day():
    rules = RESOURCES["MediaBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    by_tag = {r["TagFilters"][0]["Value"]: r["ExpirationInDays"] for r in rules if "TagFilters" in r}
    assert by_tag == {str(p.retention_days): p.retention_days + 1 for p in catalogue.PLANS.values()}
    assert any(r.get("AbortIncompleteMultipartUpload", {}).get("DaysAfterInitiation") == 1 for r in rules)


@pytest.mark.parametrize(("queue", "worker"), [("JobsQueue", "generate_video"),
                                               ("ExportsQueue", "build_export")])
def test_each_queue_outlives_six_runs_of_its_worker(queue, worker):
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    worker_timeout = config["lambda_functions"][worker]["lambda_timeout"]
    assert RESOURCES[queue]["Properties"]["VisibilityTimeout"] >= 6 * worker_timeout


@pytest.mark.policy("encryption", "access-control")
@pytest.mark.policy("encryption")
def test_the_bucket_refuses_unencrypted_transport():
    (statement,) = RESOURCES["MediaBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Deny" and statement["Action"] == "s3:*"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    encryption = RESOURCES["MediaBucket"]["Properties"]["BucketEncryption"]
    assert encryption["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "aws:kms"}


def test_the_local_bucket_is_encrypted_and_has_the_lifecycle_rules(world):
    s3 = aws.s3()
    encryption = s3.get_bucket_encryption(Bucket=world.bucket)["ServerSideEncryptionConfiguration"]
    assert encryption["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    rules = s3.get_bucket_lifecycle_configuration(Bucket=world.bucket)["Rules"]
    assert len(rules) == len(RESOURCES["MediaBucket"]["Properties"]["LifecycleConfiguration"]["Rules"])
    block = s3.get_public_access_block(Bucket=world.bucket)["PublicAccessBlockConfiguration"]
    assert all(block.values())


def test_the_local_jobs_queue_has_the_templates_redrive_policy(world):
    attributes = aws.sqs().get_queue_attributes(
        QueueUrl=world.queue_urls["JobsQueue"], AttributeNames=["All"]
    )["Attributes"]
    policy = json.loads(attributes["RedrivePolicy"])
    assert int(policy["maxReceiveCount"]) == 5
    assert policy["deadLetterTargetArn"] == world.queue_arns["JobsDeadLetterQueue"]


def test_the_lambda_package_needs_no_local_only_library():
    wanted = {line.split("==")[0].strip().lower()
              for line in (ROOT / "requirements.txt").read_text().splitlines()
              if line.strip() and not line.startswith("#")}
    assert not wanted & {"av", "numpy", "pillow", "moto", "pytest", "chalice", "ruff"}
