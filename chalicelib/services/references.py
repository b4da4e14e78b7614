"""Reference images for a video: uploaded straight to the bucket with a presigned POST, or
fetched by the server from a URL behind the SSRF guard. Either way the bytes are checked and
stripped of metadata before any provider sees them, and a refusal says why."""

from __future__ import annotations

import json
import uuid
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.adapters import images
from chalicelib.adapters.safe_fetch import FetchRefused, SafeFetcher
from chalicelib.adapters.storage import MediaStore
from chalicelib.errors import InvalidInput, NotReady

UPLOAD_SECONDS = 600


def _reference_key(user_id: str, upload_id: str) -> str:
    return f"references/{user_id}/{upload_id}"


def create_upload(user_id: str, body: dict[str, Any], store: MediaStore) -> dict[str, Any]:
    content_type = body.get("content_type")
    if content_type not in images.TYPES:
        raise InvalidInput(f"content_type must be one of {', '.join(images.TYPES)}", field="content_type")
    size = body.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or not 1 <= size <= images.MAX_BYTES:
        raise InvalidInput("size must be the file's size in bytes, at most 10 MiB (10485760)", field="size")
    upload_id = uuid.uuid4().hex
    # The key is ours, under the user's prefix; the policy pins type and size.
    post = store.client.generate_presigned_post(
        Bucket=store.bucket,
        Key=f"uploads/{user_id}/{upload_id}",
        Fields={"Content-Type": content_type},
        Conditions=[{"Content-Type": content_type}, ["content-length-range", 1, size]],
        ExpiresIn=UPLOAD_SECONDS,
    )
    return {"upload_id": upload_id, "url": post["url"], "fields": post["fields"],
            "expires_in": UPLOAD_SECONDS}


def validate_upload(key: str, store: MediaStore) -> str:
    """The bucket's object-created event: check the upload, keep a clean copy, drop the original."""
    parts = key.split("/")
    if len(parts) != 3 or parts[0] != "uploads":
        return "ignored"
    _, user_id, upload_id = parts
    try:
        data = store.read(key, limit=images.MAX_BYTES + 1)
    except ClientError:
        return "gone"
    try:
        image = images.clean(data)
        store.put_bytes(_reference_key(user_id, upload_id), image.data, image.content_type)
        verdict = {"status": "ready", "content_type": image.content_type,
                   "width": image.width, "height": image.height}
    except images.ImageRefused as refused:
        verdict = {"status": "refused", "reason": str(refused)}
    store.put_bytes(_reference_key(user_id, upload_id) + ".json", json.dumps(verdict).encode(),
                    "application/json")
    store.delete([key])
    return verdict["status"]


def reference_for_upload(user_id: str, upload_id: object, store: MediaStore,
                         field: str = "reference_upload_id") -> str:
    """The checked image's key; a refusal names `field` (the start or the end image's)."""
    if not isinstance(upload_id, str) or not upload_id.isalnum() or len(upload_id) > 64:
        raise InvalidInput(f"{field} is not an upload of yours", field=field)
    try:
        verdict = json.loads(store.read(_reference_key(user_id, upload_id) + ".json", limit=4096))
    except ClientError:
        raise NotReady("The reference image is still being checked (or was never uploaded); "
                       "try again in a moment.") from None
    if verdict.get("status") != "ready":
        raise InvalidInput(f"The reference image was refused: {verdict.get('reason')}", field=field)
    return _reference_key(user_id, upload_id)


def reference_from_url(user_id: str, url: object, store: MediaStore,
                       fetcher: SafeFetcher | None = None, field: str = "reference_url") -> str:
    if not isinstance(url, str) or len(url) > 2048:
        raise InvalidInput(f"{field} must be an http or https address", field=field)
    try:
        fetched = (fetcher or SafeFetcher()).fetch(url)
        image = images.clean(fetched.data)
    except (FetchRefused, images.ImageRefused) as refused:
        raise InvalidInput(f"The reference image was refused: {refused}", field=field) from None
    key = _reference_key(user_id, uuid.uuid4().hex)
    store.put_bytes(key, image.data, image.content_type)
    return key
