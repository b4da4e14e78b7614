"""Writes the DynamoDB tables of infra/resources.json from the pynamodb models, so the models
stay the one definition of every table, key and index.

    .venv/bin/python -m chalicelib.local.infra     (after changing a model)

A test fails when the template and the models disagree.
"""

from __future__ import annotations

import json
from typing import Any

from pynamodb.attributes import TTLAttribute

from chalicelib.local.bootstrap import TEMPLATE, load_template
from chalicelib.models import ALL_MODELS


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
    others = {k: v for k, v in template["Resources"].items() if v["Type"] != "AWS::DynamoDB::Table"}
    tables = dict(table_resource(model) for model in ALL_MODELS)
    return {**template, "Resources": {**tables, **others}}


def main() -> None:
    TEMPLATE.write_text(json.dumps(with_tables(load_template()), indent=2) + "\n")
    print(f"wrote {len(ALL_MODELS)} tables into {TEMPLATE}")


if __name__ == "__main__":
    main()
