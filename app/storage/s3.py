"""Export files in S3 or an S3-compatible store (MinIO, moto), downloaded at presigned URLs.

Small files go up in one PutObject. A file larger than one part goes up as a
multipart upload with parts of ``part_size`` bytes (S3 rejects parts under
5 MiB except the last), so at most one part is held in memory. Any failure
aborts the multipart upload, so no unfinished upload is left behind to be
billed; an upload left by a crashed worker is aborted when the same key is
written again.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any
from urllib.parse import quote

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from app.storage.base import DownloadLink, ExportStorage, ExportStorageError, ObjectWriter

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT_SECONDS = 10
READ_TIMEOUT_SECONDS = 120
# botocore's "standard" mode retries throttling and transient network errors, up to this many attempts.
MAX_ATTEMPTS = 4
# Leave this much of the signing credentials' life unused, so a link never outlives them.
CREDENTIAL_MARGIN_SECONDS = 60


def _reason(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'error')}: {error.get('Message', str(exc))}"
    return str(exc)


class S3MultipartWriter(ObjectWriter):
    def __init__(self, client: Any, bucket: str, key: str, content_type: str, part_size: int) -> None:
        self._client = client
        self._bucket = bucket
        self._key = key
        self._content_type = content_type
        self._part_size = part_size
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []
        self._size = 0
        self._done = False

    def _call(self, operation: str, **arguments: Any) -> Any:
        try:
            return getattr(self._client, operation)(Bucket=self._bucket, Key=self._key, **arguments)
        except (ClientError, BotoCoreError) as exc:
            raise ExportStorageError(f"storage refused the upload: {_reason(exc)}") from exc

    def _upload_part(self, body: bytes) -> None:
        if self._upload_id is None:
            created = self._call("create_multipart_upload", ContentType=self._content_type)
            self._upload_id = created["UploadId"]
        number = len(self._parts) + 1
        response = self._call("upload_part", UploadId=self._upload_id, PartNumber=number, Body=body)
        self._parts.append({"PartNumber": number, "ETag": response["ETag"]})

    def write(self, data: bytes) -> None:
        self._buffer += data
        self._size += len(data)
        while len(self._buffer) >= self._part_size:
            part = bytes(self._buffer[: self._part_size])
            del self._buffer[: self._part_size]
            self._upload_part(part)

    def commit(self) -> int:
        if self._upload_id is None:
            self._call("put_object", Body=bytes(self._buffer), ContentType=self._content_type)
        else:
            if self._buffer:
                self._upload_part(bytes(self._buffer))
            self._call("complete_multipart_upload", UploadId=self._upload_id, MultipartUpload={"Parts": self._parts})
        self._buffer.clear()
        self._done = True
        return self._size

    def abort(self) -> None:
        if self._done:
            return
        self._done = True
        self._buffer.clear()
        if self._upload_id is None:
            return
        try:
            self._client.abort_multipart_upload(Bucket=self._bucket, Key=self._key, UploadId=self._upload_id)
        except (ClientError, BotoCoreError) as exc:
            # The bucket's lifecycle rule for incomplete uploads, or the next
            # write of this key, removes what is left.
            logger.warning("multipart upload abort failed: key=%s upload_id=%s: %s", self._key, self._upload_id, exc)


class S3Storage(ExportStorage):
    def __init__(
        self,
        bucket: str,
        prefix: str,
        endpoint_url: str | None,
        url_expiry_seconds: int,
        part_size: int,
        public_endpoint_url: str | None = None,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self._expiry_seconds = url_expiry_seconds
        self._part_size = part_size
        self._session = boto3.session.Session()
        config = Config(
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
            read_timeout=READ_TIMEOUT_SECONDS,
            retries={"max_attempts": MAX_ATTEMPTS, "mode": "standard"},
            signature_version="s3v4",
        )
        self.client = self._session.client("s3", endpoint_url=endpoint_url, config=config)
        # Links are signed for the address clients use, which differs from the
        # service's own when the store sits on a private network (MinIO in compose).
        self._signing_client = (
            self._session.client("s3", endpoint_url=public_endpoint_url, config=config)
            if public_endpoint_url
            else self.client
        )

    def __repr__(self) -> str:
        return f"S3Storage(bucket={self.bucket!r}, prefix={self.prefix!r})"

    def full_key(self, key: str) -> str:
        return self.prefix + key

    def open_writer(self, key: str, content_type: str) -> ObjectWriter:
        full_key = self.full_key(key)
        self._abort_leftover_uploads(full_key)
        return S3MultipartWriter(self.client, self.bucket, full_key, content_type, self._part_size)

    def _abort_leftover_uploads(self, full_key: str) -> None:
        """Abort unfinished multipart uploads of this key, left by a worker that crashed."""
        try:
            response = self.client.list_multipart_uploads(Bucket=self.bucket, Prefix=full_key)
            for upload in response.get("Uploads", []):
                if upload["Key"] == full_key:
                    self.client.abort_multipart_upload(Bucket=self.bucket, Key=full_key, UploadId=upload["UploadId"])
                    logger.info("aborted a multipart upload left by an earlier attempt: key=%s", full_key)
        except (ClientError, BotoCoreError) as exc:
            raise ExportStorageError(f"storage refused the upload: {_reason(exc)}") from exc

    def _link_lifetime(self, now_ms: int) -> int:
        """Return the link lifetime in seconds: the setting, cut short by expiring credentials."""
        lifetime = self._expiry_seconds
        credentials = self._session.get_credentials()
        # Temporary credentials (an assumed role, instance metadata) carry an
        # expiry time; botocore exposes it only as this private attribute.
        expiry = getattr(credentials, "_expiry_time", None)
        if isinstance(expiry, dt.datetime):
            left = int(expiry.timestamp() - now_ms / 1000) - CREDENTIAL_MARGIN_SECONDS
            lifetime = max(1, min(lifetime, left))
        return lifetime

    def download_link(self, key: str, filename: str, now_ms: int, api_base_url: str) -> DownloadLink:
        lifetime = self._link_lifetime(now_ms)
        try:
            url = self._signing_client.generate_presigned_url(
                "get_object",
                Params={
                    "Bucket": self.bucket,
                    "Key": self.full_key(key),
                    "ResponseContentDisposition": f"attachment; filename*=UTF-8''{quote(filename)}",
                },
                ExpiresIn=lifetime,
            )
        except (ClientError, BotoCoreError) as exc:
            raise ExportStorageError(f"cannot sign a download link: {_reason(exc)}") from exc
        return DownloadLink(url, now_ms + lifetime * 1000)

    def object_keys(self, prefix: str) -> list[str]:
        keys: list[str] = []
        paginator = self.client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self.full_key(prefix)):
                keys += [item["Key"][len(self.prefix):] for item in page.get("Contents", [])]
        except (ClientError, BotoCoreError) as exc:
            raise ExportStorageError(f"cannot list {self.bucket}: {_reason(exc)}") from exc
        return sorted(keys)
