"""Settings refuse to start on a configuration that is unsafe outside make run (STAGE local)."""

from __future__ import annotations

import pytest

from chalicelib import secret_store
from chalicelib.config import ConfigError, Settings


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_a_jwt_secret_shorter_than_32_bytes_refuses_to_start(monkeypatch, stage):
    monkeypatch.setenv("STAGE", stage)
    monkeypatch.setenv("JWT_SECRET", "x" * 31)
    with pytest.raises(ConfigError, match="JWT_SECRET must be at least 32 bytes, got 31"):
        Settings.from_environ()


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_make_runs_public_jwt_secret_refuses_to_start(monkeypatch, stage):
    monkeypatch.setenv("STAGE", stage)
    monkeypatch.setenv("JWT_SECRET", secret_store.DEVELOPMENT_VALUES["JWT_SECRET"])
    with pytest.raises(ConfigError, match="JWT_SECRET is make run's public development value"):
        Settings.from_environ()


@pytest.mark.parametrize("name", sorted(secret_store.DEVELOPMENT_VALUES))
def test_no_public_development_value_is_read_outside_make_run(monkeypatch, name):
    monkeypatch.setenv(name, secret_store.DEVELOPMENT_VALUES[name])
    with pytest.raises(ConfigError, match=f"{name} is make run's public development value"):
        secret_store.require(name)


def test_make_run_starts_with_its_development_values(monkeypatch):
    from chalicelib.local import stack

    for name in secret_store.SECRETS:
        monkeypatch.delenv(name, raising=False)
    for name, value in stack.stage_environment(moto_port=4566, api_port=8000).items():
        monkeypatch.setenv(name, value)
    assert Settings.from_environ().stage == secret_store.LOCAL_STAGE
    assert Settings.from_environ().jwt_secret.reveal() == secret_store.DEVELOPMENT_VALUES["JWT_SECRET"]


def test_the_local_checkout_refuses_to_start_in_production(monkeypatch):
    monkeypatch.setenv("STAGE", "prod")
    monkeypatch.setenv("LOCAL_CHECKOUT", "true")
    with pytest.raises(ConfigError, match="LOCAL_CHECKOUT=true is refused when STAGE is prod"):
        Settings.from_environ()
    monkeypatch.setenv("LOCAL_CHECKOUT", "false")
    assert Settings.from_environ().local_checkout is False
    monkeypatch.setenv("STAGE", "dev")
    monkeypatch.setenv("LOCAL_CHECKOUT", "true")
    assert Settings.from_environ().local_checkout is True


def test_settings_hold_secrets_by_name_and_never_show_their_values(monkeypatch):
    monkeypatch.setenv("STRIPE_API_KEY", "sk_test_" + "4" * 32)
    shown = repr(Settings.from_environ())
    assert "Secret(name='STRIPE_API_KEY')" in shown and "4444" not in shown
    assert "test-only-jwt-secret" not in shown
