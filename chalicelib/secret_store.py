"""Secrets: declared once here, read on first use, never from a Lambda function's environment.

On Lambda, the template hands a function SECRET_PARAMETERS: the paths of the SSM SecureString
parameters it may read (`/<stack>/<NAME>`, the names its ACCESS in infra/iam.py grants it), and
its role may decrypt those and no others. The first secret it asks for fetches all of them in one
GetParameters call (ten names a call); they stay in memory until Lambda retires the instance, so a
new value reaches every instance started after it is stored. A function granted no secret
reads none and makes no call.

Off Lambda (make run, tests, an operator's shell) a secret is the environment variable of its
name. Wherever it comes from, a value shorter than its declared minimum or equal to make run's
public development value is refused unless STAGE is `local` (make run's stage).
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass

from chalicelib import aws
from chalicelib.config import ConfigError

PARAMETERS = "SECRET_PARAMETERS"  # comma-separated SSM paths, set by the template on Lambda
_PER_CALL = 10  # GetParameters takes at most ten names
LOCAL_STAGE = "local"


@dataclass(frozen=True)
class Declared:
    purpose: str
    development_value: str | None = None  # make run's public value, refused outside STAGE=local
    min_bytes: int = 1


# Every secret the code reads. A function gets one only where infra/iam.py's ACCESS grants it.
SECRETS: dict[str, Declared] = {
    "JWT_SECRET": Declared("signs and verifies access tokens (HS256)",
                           "local-dev-only-jwt-secret-not-for-production", min_bytes=32),
    "VIDEO_API_KEY": Declared("the video provider's API key (moderation's too, where that is OpenAI)"),
    "STRIPE_API_KEY": Declared("Stripe's API: checkout, portal, cancellations"),
    "STRIPE_WEBHOOK_SECRET": Declared("verifies Stripe's webhooks", "whsec_local_dev_only_stripe"),
    "CREEM_API_KEY": Declared("Creem's API: checkout, cancellations"),
    "CREEM_WEBHOOK_SECRET": Declared("verifies Creem's webhooks", "local_dev_only_creem"),
    "FAL_KEY": Declared("fal.ai's queue API (Authorization: Key ...)"),
    "REPLICATE_API_TOKEN": Declared("Replicate's predictions API"),
    "REPLICATE_WEBHOOK_SECRET": Declared("verifies Replicate's webhooks (whsec_...)",
                                         "whsec_bG9jYWwtZGV2LW9ubHktcmVwbGljYXRlLXdlYmhvb2s="),
    "MODERATION_API_KEY": Declared("an OpenAI-shaped moderation endpoint other than the video provider's"),
}

# What make run sets where the environment has none: public, so refused anywhere else.
DEVELOPMENT_VALUES = {name: d.development_value for name, d in SECRETS.items() if d.development_value}


@dataclass(frozen=True)
class Secret:
    """A secret by name, as Settings holds it: nothing is read until `reveal()`."""

    name: str

    def reveal(self) -> str:
        return require(self.name)


def on_lambda() -> bool:
    return PARAMETERS in os.environ or bool(os.environ.get("AWS_LAMBDA_FUNCTION_NAME"))


def _granted() -> dict[str, str]:
    """Secret name -> its parameter's path, as the template hands them to this function."""
    paths = [p.strip() for p in os.environ.get(PARAMETERS, "").split(",") if p.strip()]
    return {path.rsplit("/", 1)[-1]: path for path in paths}


def configured(name: str) -> bool:
    """Whether this process has the secret, known without reading it."""
    if on_lambda():
        return name in _granted()
    return bool(os.environ.get(name, "").strip())


def handle(name: str) -> Secret | None:
    """The secret, to be read on first use; None where this process has none."""
    return Secret(name) if configured(name) else None


def require(name: str) -> str:
    if not on_lambda():
        value = os.environ.get(name, "").strip()
        if not value:
            raise ConfigError(f"environment variable {name} is required and is not set")
        return check(name, value)
    granted = _granted()
    if name not in granted:
        raise ConfigError(f"{name} is not among this function's secrets ({PARAMETERS}); "
                          "grant it in infra/iam.py's ACCESS")
    value = _fetched(tuple(sorted(granted.values()))).get(granted[name])
    if not value:
        raise ConfigError(f"{name}: the SSM parameter {granted[name]} does not exist or is empty")
    return check(name, value)


def check(name: str, value: str) -> str:
    """The value, unless it is too short or public and STAGE is not make run's."""
    if os.environ.get("STAGE") == LOCAL_STAGE:
        return value
    declared = SECRETS.get(name)
    if declared is None:
        return value
    if value == declared.development_value:
        raise ConfigError(f"{name} is make run's public development value, refused unless "
                          f"STAGE is {LOCAL_STAGE}: set a random one")
    if len(value.encode()) < declared.min_bytes:
        raise ConfigError(f"{name} must be at least {declared.min_bytes} bytes, "
                          f"got {len(value.encode())}")
    return value


def check_environment() -> None:
    """Refuses, without reading SSM, what is wrong before any secret is used: on Lambda, a
    secret in the environment; elsewhere, a declared secret whose value `check` refuses."""
    present = [name for name in SECRETS if os.environ.get(name, "").strip()]
    if on_lambda() and present:
        raise ConfigError(f"{', '.join(present)} must not be in a Lambda function's environment: "
                          f"functions read their secrets from SSM ({PARAMETERS})")
    for name in present:
        check(name, os.environ[name].strip())


@functools.cache
def _fetched(paths: tuple[str, ...]) -> dict[str, str]:
    """Every parameter of the function, decrypted: one call per ten, once per process."""
    values: dict[str, str] = {}
    for start in range(0, len(paths), _PER_CALL):
        answer = aws.ssm().get_parameters(Names=list(paths[start:start + _PER_CALL]), WithDecryption=True)
        values.update({p["Name"]: p["Value"] for p in answer["Parameters"]})
    return values


def reset() -> None:
    """Forgets what was read (tests; a new process does so anyway)."""
    _fetched.cache_clear()
