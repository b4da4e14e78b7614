"""The media bucket: videos, thumbnails and reference images, all private.

Presigning is local computation: issuing a download address costs no S3 call.
"""

from __future__ import annotations

from typing import Any, BinaryIO
from urllib.parse import urlencode

from boto3.s3.transfer import TransferConfig

from chalicelib import aws

# Parts of 8 MiB, 4 in flight: memory stays near 40 MiB whatever the video's size
# (boto3's default, 10 in flight, measured 104 MB above baseline for a 200 MB copy).
_STREAMING = TransferConfig(multipart_threshold=8 * 2**20, multipart_chunksize=8 * 2**20, max_concurrency=4)
# Parts read ahead from a stream that cannot seek (s3transfer's setting; boto3 does not pass it).
_STREAMING.max_in_memory_upload_chunks = 4


class MediaStore:
    def __init__(self, bucket: str, client: Any | None = None, object_tags: bool = True) -> None:
        self._bucket = bucket
        self._client = client
        # Off for stores without object tagging; tags only feed the lifecycle backstop.
        self.object_tags = object_tags

    @property
    def client(self) -> Any:
        return self._client or aws.s3()

    def put(self, key: str, body: BinaryIO, content_type: str, tags: dict[str, str]) -> None:
        # upload_fileobj streams in parts, so a large video never sits whole in memory.
        extra = {"ContentType": content_type}
        if self.object_tags:
            extra["Tagging"] = urlencode(tags)
        self.client.upload_fileobj(body, self._bucket, key, ExtraArgs=extra, Config=_STREAMING)

    def retag(self, key: str, tags: dict[str, str]) -> None:
        if self.object_tags:
            self.client.put_object_tagging(
                Bucket=self._bucket,
                Key=key,
                Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in tags.items()]},
            )

    def presigned_get(self, key: str, seconds: int, download_name: str | None = None) -> str:
        params: dict[str, str] = {"Bucket": self._bucket, "Key": key}
        if download_name:
            params["ResponseContentDisposition"] = f'attachment; filename="{download_name}"'
        return str(self.client.generate_presigned_url("get_object", Params=params, ExpiresIn=seconds))

    @property
    def bucket(self) -> str:
        return self._bucket

    def put_bytes(self, key: str, data: bytes, content_type: str) -> None:
        self.client.put_object(Bucket=self._bucket, Key=key, Body=data, ContentType=content_type)

    def read(self, key: str, limit: int) -> bytes:
        """At most `limit` bytes of an object (a larger one is cut, and the caller checks size)."""
        answer = self.client.get_object(Bucket=self._bucket, Key=key, Range=f"bytes=0-{limit - 1}")
        return bytes(answer["Body"].read())

    def size(self, key: str) -> int:
        return int(self.client.head_object(Bucket=self._bucket, Key=key)["ContentLength"])

    def read_range(self, key: str, offset: int, length: int) -> bytes:
        """Up to `length` bytes of an object from `offset` (fewer at its end)."""
        answer = self.client.get_object(Bucket=self._bucket, Key=key,
                                        Range=f"bytes={offset}-{offset + length - 1}")
        return bytes(answer["Body"].read())

    def download_to(self, key: str, out: BinaryIO) -> None:
        self.client.download_fileobj(self._bucket, key, out)

    def delete_prefix(self, prefix: str) -> None:
        """Deletes every object under the prefix (a user's folder, at erasure)."""
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self._bucket, Prefix=prefix)
        for page in pages:
            self.delete([item["Key"] for item in page.get("Contents", [])])

    def delete(self, keys: list[str]) -> None:
        if keys:
            self.client.delete_objects(
                Bucket=self._bucket,
                Delete={"Objects": [{"Key": k} for k in keys], "Quiet": True},
            )
