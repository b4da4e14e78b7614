"""What the in-process benches share: the bench stage's environment, set when this module is
imported (the models read RESOURCE_PREFIX when they are defined, so import it before any
project module), moto in-process holding the stage's resources, and botocore event hooks on
every AWS client the app builds.
"""

from __future__ import annotations

import base64
import contextlib
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# Bench-only values; nothing here reaches AWS (moto answers every call). The names are the dev
# stage's, which chalice's test client sets from .chalice/config.json anyway.
STRIPE_SECRET = "whsec_bench_only_stripe"  # noqa: S105 - signs the bench's own webhooks
CREEM_SECRET = "bench_only_creem"  # noqa: S105 - likewise
REPLICATE_SECRET = "whsec_" + base64.b64encode(b"bench-only-replicate-webhook").decode()
PASSWORD = "correct horse battery staple"  # noqa: S105 - the bench accounts', in moto

os.environ.update({
    "STAGE": "dev", "RESOURCE_PREFIX": "aisora-dev", "MEDIA_BUCKET": "aisora-dev-media",
    "JWT_SECRET": "bench-only-secret-0123456789abcdef", "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1",
    "RECHECK_DELAY_SECONDS": "0", "APP_BASE_URL": "http://127.0.0.1:8000",
    "MAIL_FROM": "AISora2 <no-reply@aisora2.com>", "LOCAL_CHECKOUT": "true",
    "STRIPE_WEBHOOK_SECRET": STRIPE_SECRET, "CREEM_WEBHOOK_SECRET": CREEM_SECRET,
    "REPLICATE_WEBHOOK_SECRET": REPLICATE_SECRET, "VIDEO_PROVIDER": "local",
    "LOCAL_RENDER_DIR": str(Path(tempfile.gettempdir()) / "aisora-bench-renders"),
    "JOBS_QUEUE_URL": "set-by-in_process_aws", "EXPORTS_QUEUE_URL": "set-by-in_process_aws",
    "NOTICES_QUEUE_URL": "set-by-in_process_aws",
})
for _name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN", "VIDEO_API_KEY", "STRIPE_API_KEY",
              "CREEM_API_KEY", "STORAGE_ENDPOINT_URL"):
    os.environ.pop(_name, None)


@contextlib.contextmanager
def in_process_aws() -> Iterator[Any]:
    """moto in this process with the stage's tables, bucket and queues; yields LocalResources.
    Each use is a new, empty world."""
    from moto import mock_aws

    from chalicelib import aws, config, wiring
    from chalicelib.local.bootstrap import bootstrap
    from chalicelib.models import ALL_MODELS

    with mock_aws():
        aws.reset_clients()
        for model in ALL_MODELS:
            # A model's connection is made once per process; the previous world's is gone.
            model._connection = None
        resources = bootstrap()
        for variable, queue in (("JOBS_QUEUE_URL", "JobsQueue"), ("EXPORTS_QUEUE_URL", "ExportsQueue"),
                                ("NOTICES_QUEUE_URL", "NoticesQueue")):
            os.environ[variable] = resources.queue_urls[queue]
        config.settings.cache_clear()
        wiring.reset()
        yield resources


def app_clients() -> list[Any]:
    """Every botocore client the app calls AWS through, built now if not yet: aws.py's four,
    one per table (pynamodb's connection of each model) and the transactions' shared one."""
    from chalicelib import aws
    from chalicelib.models import ALL_MODELS
    from chalicelib.models.base import _connection

    clients = [aws.s3(), aws.sqs(), aws.ses(), aws.events(), _connection().client]
    clients += [model._get_connection().connection.client for model in ALL_MODELS]
    return clients


@contextlib.contextmanager
def hooked(event: str, handler: Callable[..., None]) -> Iterator[None]:
    """`handler` registered for a botocore event (`before-call`, `after-call.dynamodb`, ...) on
    every client of the app. A client built meanwhile would escape the hook, so that fails."""
    clients = app_clients()
    for client in clients:
        client.meta.events.register(event, handler)
    try:
        yield
    finally:
        for client in clients:
            client.meta.events.unregister(event, handler)
    if [id(c) for c in app_clients()] != [id(c) for c in clients]:
        raise RuntimeError("an AWS client was built while hooked; its calls were not seen")


def operation(model: Any) -> str:
    """`service:Operation` of a botocore operation model, as the hooks receive it."""
    return f"{model.service_model.service_name}:{model.name}"
