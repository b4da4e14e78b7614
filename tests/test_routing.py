"""Routing and failover: a model's engines are tried in order, and only while none has the job."""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import replace
from datetime import timedelta

import pytest
from conftest import get, post
from fakes import ScriptedProvider

from chalicelib import aws, config, wiring
from chalicelib.adapters.queue import MessageQueue
from chalicelib.adapters.storage import MediaStore
from chalicelib.adapters.video import ProviderRefused, ProviderStatus, ProviderUnavailable, SubmitUnknown
from chalicelib.models import LedgerEntry, User, VideoJob
from chalicelib.services import catalogue, generation

ROUTED = "routed-test-model"
FOUR_SECONDS = {"prompt": "A lighthouse in a storm", "model": ROUTED, "seconds": 4, "size": "720x1280"}


pytestmark = pytest.mark.usefixtures("drained_jobs_queue")


@pytest.fixture(autouse=True)
def routed_model(monkeypatch):
    """A model made by fal, then Replicate, priced as the default model."""
    model = replace(catalogue.MODELS[catalogue.DEFAULT_MODEL], id=ROUTED,
                    routes=(catalogue.Route("fal", "fal-ai/test/text-to-video"),
                            catalogue.Route("replicate", "test/video")))
    monkeypatch.setitem(catalogue.MODELS, ROUTED, model)


@pytest.fixture
def fal():
    return ScriptedProvider("fal")


@pytest.fixture
def replicate():
    return ScriptedProvider("replicate")


@pytest.fixture
def side_queue(world):
    return aws.sqs().create_queue(QueueName=f"aisora-dev-test-{uuid.uuid4().hex[:8]}")["QueueUrl"]


@pytest.fixture
def deps(world, side_queue, fal, replicate):
    return generation.Dependencies(MessageQueue(side_queue), MediaStore(world.bucket),
                                   {"fal": fal, "replicate": replicate}, 300, 0)


@pytest.fixture
def failovers(caplog):
    caplog.set_level(logging.DEBUG, logger="chalicelib.observability")

    def counted() -> list[dict]:
        return [r.args[1] for r in caplog.records
                if r.msg.startswith("metric") and "EngineFailover" in r.args[0]]

    return counted


def queued_job(client, user) -> VideoJob:
    response = post(client, "/videos", FOUR_SECONDS, user["access_token"])
    assert response.status_code == 202, response.json_body
    return VideoJob.get(response.json_body["id"])


def submit(job, deps):
    generation.handle_message({"job_id": job.job_id, "action": "submit"}, deps)
    job.refresh()


def refunds(job):
    return [e for e in LedgerEntry.query(job.user_id) if e.reference == f"job:{job.job_id}:refund"]


def outcomes(job):
    return [(a.provider, a.outcome) for a in job.attempts]


@pytest.mark.parametrize("trouble", ["503 from fal", "429 too many requests", "connection refused"])
def test_an_unavailable_first_route_gives_the_job_to_the_next_at_the_same_price(
        client, user, deps, fal, replicate, failovers, trouble):
    job = queued_job(client, user)
    fal.create_error = ProviderUnavailable(trouble)
    submit(job, deps)
    assert job.status == "in_progress"
    assert (job.provider, job.provider_job_id) == ("replicate", replicate.created[0])
    assert replicate.submissions[0].engine_model == "test/video"
    assert fal.submissions[0].engine_model == "fal-ai/test/text-to-video"
    assert outcomes(job) == [("fal", "unavailable"), ("replicate", "accepted")]
    assert trouble in job.attempts[0].detail
    assert job.attempts[0].at <= job.attempts[1].at
    assert int(job.cost) == catalogue.video_cost(ROUTED, "720x1280", 4)
    assert get(client, "/me", user["access_token"]).json_body["credits"] == 40 - int(job.cost)
    assert failovers() == [{"provider": "fal"}]


def test_the_first_route_that_answers_takes_the_job_and_no_other_is_asked(client, user, deps, fal, replicate,
                                                                          failovers):
    job = queued_job(client, user)
    submit(job, deps)
    assert (job.provider, outcomes(job)) == ("fal", [("fal", "accepted")])
    assert replicate.submissions == []
    assert failovers() == []


def test_checks_speak_to_the_engine_that_accepted_the_job(client, user, deps, fal, replicate, side_queue):
    job = queued_job(client, user)
    fal.create_error = ProviderUnavailable("502")
    submit(job, deps)
    fal.status = None  # never asked again: the check would fail on it
    replicate.status = ProviderStatus("completed", 100)
    generation.handle_message({"job_id": job.job_id, "action": "check"}, deps)
    job.refresh()
    assert job.status == "completed"
    assert replicate.deleted == [job.provider_job_id] and fal.deleted == []
    (check,) = [json.loads(m["Body"]) for m in aws.sqs().receive_message(
        QueueUrl=side_queue, MaxNumberOfMessages=10).get("Messages", [])]
    assert check["provider"] == "replicate"


def test_a_refusal_fails_the_job_once_and_never_tries_the_next_route(client, user, deps, fal, replicate):
    job = queued_job(client, user)
    fal.create_error = ProviderRefused("content policy violation")
    submit(job, deps)
    submit(job, deps)
    assert job.status == "failed" and job.error_code == "refused"
    assert replicate.submissions == []
    assert outcomes(job) == [("fal", "refused")]
    assert len(refunds(job)) == 1
    assert get(client, "/me", user["access_token"]).json_body["credits"] == 40


def test_a_submit_of_unknown_outcome_is_never_sent_to_another_route(client, user, deps, fal, replicate):
    job = queued_job(client, user)
    fal.create_error = SubmitUnknown("read timed out after the request was sent")
    submit(job, deps)
    submit(job, deps)  # a redelivery finds the job ended
    assert replicate.submissions == [] and len(fal.submissions) == 1
    assert job.status == "failed" and job.error_code == "submit_unknown"
    assert outcomes(job) == [("fal", "unknown")]
    assert len(refunds(job)) == 1


def test_an_unexpected_error_from_an_engine_counts_as_an_unknown_outcome(client, user, deps, fal, replicate):
    job = queued_job(client, user)
    fal.create_error = KeyError("request_id")
    submit(job, deps)
    assert replicate.submissions == []
    assert (job.status, outcomes(job)) == ("failed", [("fal", "unknown")])


def test_with_every_route_down_the_message_is_retried_then_refunded_once_by_the_dead_letter_path(
        client, user, deps, fal, replicate, failovers):
    job = queued_job(client, user)
    fal.create_error = ProviderUnavailable("503")
    replicate.create_error = ProviderUnavailable("connection refused")
    for _ in range(2):  # SQS delivers it again
        with pytest.raises(ProviderUnavailable):
            submit(job, deps)
        job.refresh()
        assert job.status == "queued" and not refunds(job)
    assert outcomes(job) == [("fal", "unavailable"), ("replicate", "unavailable")] * 2
    assert failovers() == [{"provider": "fal"}] * 2  # replicate had no route after it
    dead = client.events.generate_sqs_event(
        message_bodies=[json.dumps({"job_id": job.job_id, "action": "submit"})],
        queue_name="aisora-dev-jobs-dlq")
    client.lambda_.invoke("fail_dead_lettered_jobs", dead)
    client.lambda_.invoke("fail_dead_lettered_jobs", dead)
    job.refresh()
    assert job.status == "failed" and len(refunds(job)) == 1
    assert get(client, "/me", user["access_token"]).json_body["credits"] == 40


def test_a_model_none_of_whose_engines_is_configured_fails_and_is_refunded(client, user, deps):
    job = queued_job(client, user)
    only_openai = replace(deps, engines={"openai": ScriptedProvider("openai")})
    submit(job, only_openai)
    assert job.status == "failed" and len(refunds(job)) == 1


def test_operators_see_the_attempts_and_the_owner_does_not(client, user, deps, fal):
    job = queued_job(client, user)
    fal.create_error = ProviderUnavailable("503")
    submit(job, deps)
    owner_view = get(client, f"/videos/{job.job_id}", user["access_token"]).json_body
    assert not {"attempts", "provider", "provider_job_id"} & set(owner_view)
    assert get(client, f"/admin/videos/{job.job_id}", user["access_token"]).status_code == 404

    User(job.user_id).update(actions=[User.role.set("admin")])
    seen = get(client, f"/admin/videos/{job.job_id}", user["access_token"]).json_body
    assert seen["provider"] == "replicate" and seen["provider_job_id"] == job.provider_job_id
    assert [(a["provider"], a["outcome"]) for a in seen["attempts"]] == outcomes(job)
    assert seen["attempts"][0]["detail"] == "503"


@pytest.mark.parametrize("env, engines", [
    ({}, {"local"}),
    ({"FAL_KEY": "fal-key"}, {"fal"}),
    ({"FAL_KEY": "fal-key", "REPLICATE_API_TOKEN": "r8_token"}, {"fal", "replicate"}),
    ({"VIDEO_API_KEY": "sk-gateway", "VIDEO_API_BASE_URL": "http://gateway.test/v1"}, {"openai"}),
    ({"FAL_KEY": "fal-key", "VIDEO_PROVIDER": "local"}, {"local"}),
])
def test_the_engines_are_those_whose_key_is_set_else_the_local_renderer(monkeypatch, env, engines):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert config.Settings.from_environ().video_engines == frozenset(engines)


@pytest.fixture
def short_deadline(monkeypatch, world):
    monkeypatch.setenv("GENERATION_DEADLINE_SECONDS", "90")
    config.settings.cache_clear()
    wiring.reset()
    yield
    monkeypatch.undo()
    config.settings.cache_clear()
    wiring.reset()


def test_the_generation_deadline_is_configuration(client, user, short_deadline):
    job = queued_job(client, user)
    assert job.deadline_at - job.created_at == timedelta(seconds=90)


def test_a_job_deleted_while_its_submit_fails_over_is_not_brought_back_nor_left_running(client, user, deps,
                                                                                      replicate):
    job = queued_job(client, user)

    class DeletedMeanwhile(ScriptedProvider):
        def create(self, submission):
            generation.delete_video(job.user_id, job.job_id, deps)  # its owner deletes it
            raise ProviderUnavailable("503")

    engines = {"fal": DeletedMeanwhile("fal"), "replicate": replicate}
    generation.handle_message({"job_id": job.job_id, "action": "submit"}, replace(deps, engines=engines))
    assert VideoJob.count(job.job_id) == 0
    assert replicate.deleted == replicate.created  # the engine's job is cancelled, not left to run


def test_a_video_deleted_while_rendering_is_cancelled_at_the_engine_that_took_it(client, user, deps, fal,
                                                                                  replicate, side_queue):
    job = queued_job(client, user)
    fal.create_error = ProviderUnavailable("503")
    submit(job, deps)
    generation.delete_video(job.user_id, job.job_id, deps)
    got = aws.sqs().receive_message(QueueUrl=side_queue, MaxNumberOfMessages=10).get("Messages", [])
    for message in got:  # the next re-check finds the job gone
        generation.handle_message(json.loads(message["Body"]), deps)
    assert replicate.deleted == [job.provider_job_id] and fal.deleted == []
