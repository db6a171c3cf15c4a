"""The export worker on the session's chDB database and a moto S3 server on 127.0.0.1:
multipart uploads, aborts on storage failures, leases, the sweeper and progress."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import httpx
import orjson
import pytest

from analytics.exports import ExportRequest
from analytics.time_range import parse_time_range
from app.clickhouse import ClickHouse
from app.export_jobs import ExportJob, ExportJobStore, now_ms
from app.settings import Settings, load_settings
from app.storage import ObjectWriter
from app.storage.base import ExportStorageError
from app.storage.s3 import S3Storage
from streams.exports import ExportWorker
from tests.export_data import generate_events
from tests.export_files import read_rows

MIB = 1024 * 1024
PART_SIZE = 5 * MIB


class RecordingProducer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, bytes]] = []

    async def send_and_wait(self, topic: str, key: bytes, value: bytes) -> None:
        self.sent.append((topic, key, value))


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return load_settings(
        data_dir=tmp_path_factory.mktemp("worker"), export_lease_seconds=1.5, export_max_attempts=2,
        export_part_size_bytes=PART_SIZE,
    )


@pytest.fixture(scope="module")
def bucket(s3_endpoint: str) -> str:
    name = f"exports-{uuid.uuid4().hex[:8]}"
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=name)
    return name


@pytest.fixture(scope="module")
def storage(s3_endpoint: str, bucket: str, settings: Settings) -> S3Storage:
    return S3Storage(bucket, "exports", s3_endpoint, settings.export_url_expiry_seconds, PART_SIZE)


@pytest.fixture(scope="module")
def worker(settings: Settings, clickhouse: ClickHouse, storage: S3Storage) -> Iterator[ExportWorker]:
    export_worker = ExportWorker(
        settings, clickhouse, storage, RecordingProducer(), lambda: ClickHouse(clickhouse.dsn)  # type: ignore[arg-type]
    )
    yield export_worker
    export_worker.close()


@pytest.fixture
def workspace() -> str:
    return f"worker-{uuid.uuid4().hex[:8]}"


def new_job(clickhouse: ClickHouse, workspace: str, export_format: str = "csv", **request_fields: Any) -> ExportJob:
    request = ExportRequest(workspace, "events", export_format, parse_time_range("all"), **request_fields)  # type: ignore[arg-type]
    export_id = str(uuid.uuid4())
    job = ExportJob(
        workspace_id=workspace, export_id=export_id, status="processing", export_type="events", format=export_format,
        request=request.to_json().decode(), object_key=f"{workspace}/{export_id}.{export_format}",
        created_at=now_ms(), estimated_completion=now_ms(),
    ).changed()
    ExportJobStore(clickhouse).save(job)
    return job


def message(job: ExportJob) -> bytes:
    return orjson.dumps({"export_id": job.export_id, "workspace_id": job.workspace_id})


def current(clickhouse: ClickHouse, job: ExportJob) -> ExportJob:
    found = ExportJobStore(clickhouse).get(job.workspace_id, job.export_id)
    assert found is not None
    return found


def test_large_export_uses_multipart(worker: ExportWorker, clickhouse: ClickHouse, storage: S3Storage, workspace: str) -> None:
    # 60,000 events of about 190 bytes each make a CSV file of about 11 MiB: two full parts and a rest.
    generate_events(clickhouse, workspace, 60_000)
    job = new_job(clickhouse, workspace)
    asyncio.run(worker.handle(message(job)))

    done = current(clickhouse, job)
    assert done.status == "completed", done.error_message
    assert done.rows_written == 60_000
    head = storage.client.head_object(Bucket=storage.bucket, Key=storage.full_key(job.object_key), PartNumber=1)
    assert head["PartsCount"] == 3
    assert head["ContentLength"] == PART_SIZE
    assert done.file_size_bytes is not None and 2 * PART_SIZE < done.file_size_bytes < 3 * PART_SIZE

    link = storage.download_link(job.object_key, "events.csv", now_ms(), "")
    assert link.url.startswith(storage.client.meta.endpoint_url)
    response = httpx.get(link.url, timeout=30)
    assert response.status_code == 200
    assert len(response.content) == done.file_size_bytes
    assert len(read_rows(response.content, "csv")) == 60_000


def test_small_export_single_put(worker: ExportWorker, clickhouse: ClickHouse, storage: S3Storage, workspace: str) -> None:
    generate_events(clickhouse, workspace, 30)
    job = new_job(clickhouse, workspace, "ndjson")
    asyncio.run(worker.handle(message(job)))

    assert current(clickhouse, job).status == "completed"
    head = storage.client.head_object(Bucket=storage.bucket, Key=storage.full_key(job.object_key))
    # A multipart upload's ETag ends in "-<parts>"; a PutObject's does not.
    assert "-" not in head["ETag"]
    uploads = storage.client.list_multipart_uploads(Bucket=storage.bucket, Prefix=storage.full_key(workspace))
    assert uploads.get("Uploads", []) == []


class FailingPartStorage(S3Storage):
    """S3Storage whose client fails the second part upload, as a store that runs out of quota would."""

    def open_writer(self, key: str, content_type: str) -> ObjectWriter:
        writer = super().open_writer(key, content_type)
        client = self.client
        calls = {"parts": 0}

        class Client:
            def __getattr__(self, name: str) -> Any:
                return getattr(client, name)

            def upload_part(self, **arguments: Any) -> Any:
                calls["parts"] += 1
                if calls["parts"] == 2:
                    raise ExportStorageError("storage refused the upload: QuotaExceeded: the bucket is full")
                return client.upload_part(**arguments)

        writer._client = Client()  # type: ignore[attr-defined]
        return writer


def test_storage_failure_aborts_multipart(
    settings: Settings, clickhouse: ClickHouse, storage: S3Storage, s3_endpoint: str, workspace: str
) -> None:
    generate_events(clickhouse, workspace, 60_000)
    failing = FailingPartStorage(storage.bucket, "exports", s3_endpoint, 3600, PART_SIZE)
    worker = ExportWorker(settings, clickhouse, failing, RecordingProducer(), lambda: ClickHouse(clickhouse.dsn))  # type: ignore[arg-type]
    job = new_job(clickhouse, workspace)
    try:
        asyncio.run(worker.handle(message(job)))
    finally:
        worker.close()

    failed = current(clickhouse, job)
    assert failed.status == "failed"
    assert failed.error_code == "EXPORT_FAILED"
    assert failed.error_message == "storage refused the upload: QuotaExceeded: the bucket is full"
    uploads = storage.client.list_multipart_uploads(Bucket=storage.bucket, Prefix=storage.full_key(workspace))
    assert uploads.get("Uploads", []) == []
    assert storage.object_keys(workspace) == []


def test_leftover_upload_aborted_on_rerun(worker: ExportWorker, clickhouse: ClickHouse, storage: S3Storage, workspace: str) -> None:
    generate_events(clickhouse, workspace, 30)
    job = new_job(clickhouse, workspace)
    # An upload a crashed worker started for this key.
    storage.client.create_multipart_upload(Bucket=storage.bucket, Key=storage.full_key(job.object_key))
    asyncio.run(worker.handle(message(job)))

    assert current(clickhouse, job).status == "completed"
    uploads = storage.client.list_multipart_uploads(Bucket=storage.bucket, Prefix=storage.full_key(workspace))
    assert uploads.get("Uploads", []) == []
    assert storage.object_keys(workspace) == [job.object_key]


def test_live_lease_elsewhere_skipped(worker: ExportWorker, clickhouse: ClickHouse, workspace: str) -> None:
    generate_events(clickhouse, workspace, 30)
    job = new_job(clickhouse, workspace)
    leased = job.changed(lease_owner="other-host:1:abc", lease_expires_at=now_ms() + 60_000, attempts=1)
    ExportJobStore(clickhouse).save(leased)
    asyncio.run(worker.handle(message(job)))
    assert current(clickhouse, job) == leased


def test_expired_lease_requeued(worker: ExportWorker, clickhouse: ClickHouse, settings: Settings, workspace: str) -> None:
    job = new_job(clickhouse, workspace)
    ExportJobStore(clickhouse).save(job.changed(lease_owner="dead:1:x", lease_expires_at=now_ms() - 1, attempts=1))
    producer: RecordingProducer = worker.producer  # type: ignore[assignment]
    producer.sent.clear()
    asyncio.run(worker.sweep())

    requeued = current(clickhouse, job)
    assert requeued.status == "processing"
    assert requeued.lease_owner == ""
    assert [(topic, key) for topic, key, _ in producer.sent if key == job.export_id.encode()] == [
        (settings.topic_export_requests, job.export_id.encode())
    ]


def test_attempts_exhausted_fail(worker: ExportWorker, clickhouse: ClickHouse, workspace: str) -> None:
    job = new_job(clickhouse, workspace)
    # export_max_attempts is 2 in this module.
    ExportJobStore(clickhouse).save(job.changed(lease_owner="dead:1:x", lease_expires_at=now_ms() - 1, attempts=2))
    asyncio.run(worker.sweep())

    failed = current(clickhouse, job)
    assert failed.status == "failed"
    assert failed.error_message.startswith("the export was interrupted 2 times")


class SlowStorage(S3Storage):
    """S3Storage whose writers pause on every chunk, so a test can watch an export in progress."""

    def open_writer(self, key: str, content_type: str) -> ObjectWriter:
        writer = super().open_writer(key, content_type)
        original = writer.write

        def slow_write(data: bytes) -> None:
            time.sleep(0.4)
            original(data)

        writer.write = slow_write  # type: ignore[method-assign]
        return writer


def test_progress_while_processing(
    settings: Settings, clickhouse: ClickHouse, storage: S3Storage, s3_endpoint: str, workspace: str
) -> None:
    generate_events(clickhouse, workspace, 30_000)
    slow = SlowStorage(storage.bucket, "exports", s3_endpoint, 3600, PART_SIZE)
    worker = ExportWorker(settings, clickhouse, slow, RecordingProducer(), lambda: ClickHouse(clickhouse.dsn))  # type: ignore[arg-type]
    job = new_job(clickhouse, workspace, "ndjson")
    runner = threading.Thread(target=asyncio.run, args=(worker.handle(message(job)),))
    runner.start()
    seen: list[int] = []
    try:
        while runner.is_alive():
            state = current(clickhouse, job)
            if state.status == "processing" and state.rows_written:
                seen.append(state.rows_written)
            time.sleep(0.1)
    finally:
        runner.join()
        worker.close()

    assert seen, "no progress was recorded while the export ran"
    assert 0 < seen[0] < 30_000
    assert current(clickhouse, job).rows_written == 30_000
