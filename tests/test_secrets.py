"""Secrets on Lambda: each function reads, from SSM SecureString parameters (moto), only the
secrets the template hands it, all of them in one call at its first use of one, and nothing
when it uses none. Each function is set up as the template sets it up (infra/resources.json)."""

from __future__ import annotations

import json
import secrets as random
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from conftest import post, signup_body

from chalicelib import aws, config, secret_store, wiring
from chalicelib.config import ConfigError, Settings
from chalicelib.local.bootstrap import load_template
from chalicelib.local.infra import CHALICE_DIR, function_logical_id, policy_file_name
from chalicelib.services import sessions
from infra import iam

PREFIX = "aisora-dev"
STORED = {name: random.token_urlsafe(40) for name in secret_store.SECRETS}


def _template_environment(function: str) -> dict[str, str]:
    """The function's environment variables that are plain text or name the stack."""
    from app import app

    (spec,) = [f for f in iam.app_functions(app, PREFIX) if f.name == function]
    resource = load_template()["Resources"][function_logical_id(spec)]
    found = {}
    for name, value in resource["Properties"]["Environment"]["Variables"].items():
        if isinstance(value, str):
            found[name] = value
        elif "Fn::Sub" in value:
            found[name] = value["Fn::Sub"].replace("${AWS::StackName}", PREFIX)
    return found


@pytest.fixture(scope="module")
def parameters(world) -> dict[str, str]:
    """Every declared secret, stored as the operator does (README): SecureString, /<stack>/NAME."""
    for name, value in STORED.items():
        aws.ssm().put_parameter(Name=iam.secret_parameter(PREFIX, name), Value=value,
                                Type="SecureString", Overwrite=True)
    return STORED


@pytest.fixture
def ssm_calls() -> Iterator[list[dict[str, Any]]]:
    calls: list[dict[str, Any]] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        calls.append(params)

    events = aws.ssm().meta.events
    events.register("before-parameter-build.ssm.GetParameters", record)
    yield calls
    events.unregister("before-parameter-build.ssm.GetParameters", record)


@pytest.fixture
def on_lambda(monkeypatch, parameters) -> Iterator[Any]:
    """Runs the process as Lambda runs a function: its template environment, no secret in it."""
    def become(function: str) -> None:
        for name in secret_store.SECRETS:
            monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(secret_store.PARAMETERS, raising=False)
        monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", f"{PREFIX}-{function}")
        for name, value in _template_environment(function).items():
            if name in (secret_store.PARAMETERS, "VIDEO_PROVIDER"):
                monkeypatch.setenv(name, value)
        config.settings.cache_clear()
        wiring.reset()
        secret_store.reset()

    yield become
    # Rebuilt at once in the suite's environment, so that no later test's variables leak in.
    monkeypatch.undo()
    secret_store.reset()
    wiring.reset()
    config.settings.cache_clear()
    config.settings()


def test_a_function_reads_all_its_secrets_in_one_call_at_its_first_use_of_one(on_lambda, ssm_calls):
    on_lambda("api_handler")
    settings = Settings.from_environ()
    assert ssm_calls == []  # building the settings reads nothing
    assert settings.jwt_secret.reveal() == STORED["JWT_SECRET"]
    assert config.webhook_secret("STRIPE_WEBHOOK_SECRET") == STORED["STRIPE_WEBHOOK_SECRET"]
    assert settings.video_api_key is not None and settings.video_api_key.reveal() == STORED["VIDEO_API_KEY"]
    (call,) = ssm_calls
    granted = iam.access_for("api_handler").secrets
    assert sorted(call["Names"]) == sorted(iam.secret_parameter(PREFIX, n) for n in granted)
    assert call["WithDecryption"] is True


def test_a_worker_reads_only_its_own_secret_and_is_refused_the_others(on_lambda, ssm_calls):
    on_lambda("generate_video")
    settings = Settings.from_environ()
    with pytest.raises(ConfigError, match="JWT_SECRET is not among this function's secrets"):
        settings.jwt_secret.reveal()
    assert ssm_calls == []
    assert settings.video_api_key is not None and settings.video_api_key.reveal() == STORED["VIDEO_API_KEY"]
    # one call, for its own parameters only: the engines' keys it may use, never the API's secrets
    assert [call["Names"] for call in ssm_calls] == [
        [f"/{PREFIX}/{name}" for name in ("FAL_KEY", "REPLICATE_API_TOKEN", "VIDEO_API_KEY")]]


def test_on_lambda_a_secret_in_the_environment_refuses_to_start(on_lambda, monkeypatch):
    on_lambda("api_handler")
    monkeypatch.setenv("JWT_SECRET", STORED["JWT_SECRET"])
    with pytest.raises(ConfigError, match="JWT_SECRET must not be in a Lambda function's environment"):
        Settings.from_environ()


def test_past_ten_secrets_each_ten_take_one_call(on_lambda, monkeypatch, ssm_calls):
    on_lambda("api_handler")
    paths = [f"/{PREFIX}/EXTRA_{n:02}" for n in range(12)]
    for path in paths:
        aws.ssm().put_parameter(Name=path, Value=f"value of {path}", Type="SecureString", Overwrite=True)
    monkeypatch.setenv(secret_store.PARAMETERS, ",".join(paths))
    assert secret_store.require("EXTRA_11") == f"value of /{PREFIX}/EXTRA_11"
    assert secret_store.require("EXTRA_00") == f"value of /{PREFIX}/EXTRA_00"
    assert [len(call["Names"]) for call in ssm_calls] == [10, 2]


def test_a_missing_parameter_is_named_when_it_is_first_used(on_lambda, monkeypatch):
    on_lambda("generate_video")
    monkeypatch.setenv(secret_store.PARAMETERS, f"/{PREFIX}/NEVER_STORED")
    with pytest.raises(ConfigError, match=f"NEVER_STORED: the SSM parameter /{PREFIX}/NEVER_STORED"):
        secret_store.require("NEVER_STORED")


def test_a_public_development_value_in_ssm_is_refused_when_read(on_lambda, monkeypatch):
    on_lambda("generate_video")
    path = f"/{PREFIX}/JWT_SECRET"
    aws.ssm().put_parameter(Name=path, Value=secret_store.DEVELOPMENT_VALUES["JWT_SECRET"],
                            Type="SecureString", Overwrite=True)
    monkeypatch.setenv(secret_store.PARAMETERS, path)
    try:
        with pytest.raises(ConfigError, match="JWT_SECRET is make run's public development value"):
            secret_store.require("JWT_SECRET")
    finally:
        aws.ssm().put_parameter(Name=path, Value=STORED["JWT_SECRET"], Type="SecureString", Overwrite=True)


def test_sweeps_and_workers_run_on_lambda_without_reading_a_secret(on_lambda, ssm_calls, client):
    """With VIDEO_PROVIDER=openai, as on AWS, but no secret: expire_videos and check_upload once
    built the video provider (and read its key) to reach the bucket."""
    from chalice.app import ScheduledEventConfig

    from app import app

    schedules = [s.name for s in app.event_sources if isinstance(s, ScheduledEventConfig)]
    tick = client.events.generate_cw_event(source="aws.events", detail_type="Scheduled Event",
                                           detail={}, resources=[])
    upload = client.events.generate_cw_event(
        source="aws.s3", detail_type="Object Created", resources=[],
        detail={"bucket": {"name": "another-bucket"}, "object": {"key": "uploads/u/x"}})
    for name in schedules:
        assert not iam.access_for(name).secrets, name
        on_lambda(name)
        assert isinstance(client.lambda_.invoke(name, tick).payload, dict), name
    on_lambda("check_upload")
    assert client.lambda_.invoke("check_upload", upload).payload == {"outcome": "other bucket"}
    assert ssm_calls == []


def test_the_api_signs_with_the_secret_it_reads_from_ssm(on_lambda, ssm_calls, client):
    """Under make test, iam_trace checks this read against the API's policy."""
    on_lambda("api_handler")
    tokens = post(client, "/auth/signup", signup_body()).json_body
    claims = jwt.decode(tokens["access_token"], STORED["JWT_SECRET"], algorithms=["HS256"],
                        audience=sessions.AUDIENCE, issuer=sessions.ISSUER)
    assert claims["sub"]
    assert len(ssm_calls) == 1


@pytest.mark.parametrize("function", sorted(iam.ACCESS))
def test_each_role_may_read_exactly_the_parameters_granted_to_its_function(function):
    from app import app

    (spec,) = [f for f in iam.app_functions(app, PREFIX) if f.name == function]
    policy = json.loads((CHALICE_DIR / policy_file_name("dev", function)).read_text())
    readable = {name for name in secret_store.SECRETS if iam.allows(
        policy, "ssm:GetParameters",
        f"arn:aws:ssm:{iam.REGION}:{iam.ACCOUNT}:parameter/{PREFIX}/{name}")}
    assert readable == set(iam.access_for(spec.name).secrets)
    other_account = f"arn:aws:ssm:{iam.REGION}:210987654321:parameter/{PREFIX}/JWT_SECRET"
    assert not iam.allows(policy, "ssm:GetParameters", other_account)
    via = {"kms:ViaService": f"ssm.{iam.REGION}.amazonaws.com"}
    key = f"arn:aws:kms:{iam.REGION}:{iam.ACCOUNT}:key/1234"
    assert iam.allows(policy, "kms:Decrypt", key, via) == bool(readable)
    assert not iam.allows(policy, "kms:Decrypt", key, {"kms:ViaService": "s3.us-east-1.amazonaws.com"})

