"""Export routes: ``POST export``, ``GET exports/{exportId}`` and the local backend's file downloads.

A POST records the job (``processing``), publishes it to the export topic and
returns 202 at once. When Kafka does not take the message within
PUBLISH_TIMEOUT_SECONDS, the job is recorded ``failed`` and the client gets
503, so no job waits for a message that was never sent.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import logging
import re
import uuid
from typing import Any

import orjson
from aiokafka.errors import KafkaError
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response

from analytics.exports import CONTENT_TYPES, ExportRequest, estimated_seconds, work_size_sql
from analytics.queries import known_campaigns, summary_parameters, workspace_campaigns
from api.auth import authorize
from api.errors import ApiError, envelope, error_response
from api.export_validation import parse_export_request
from api.validation import read_json_object
from app.clickhouse import ClickHouse
from app.export_jobs import EXPORT_FAILED, ExportJob, ExportJobStore, now_ms, stall_reason
from app.metrics import record_export_job
from app.storage import ExportStorage, ExportStorageError, open_storage
from app.storage.local import InvalidLink, LocalStorage
from streams.exports import export_message

logger = logging.getLogger(__name__)

PUBLISH_TIMEOUT_SECONDS = 10.0
RETRY_AFTER_SECONDS = 5
MAX_IDEMPOTENCY_KEY_LENGTH = 255
_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
_IDEMPOTENCY_NAMESPACE = uuid.UUID("0f8a7c52-3b8e-4d0c-9a51-6f3c2a1e9d47")
_SAFE_WORKSPACE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def _iso(millis: int | None) -> str | None:
    if millis is None:
        return None
    moment = dt.datetime.fromtimestamp(millis / 1000, tz=dt.timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def object_key(workspace_id: str, export_id: str, extension: str) -> str:
    """Return the storage key of an export: the same for every run of the same export id."""
    folder = workspace_id if _SAFE_WORKSPACE.match(workspace_id) else "w-" + hashlib.sha256(workspace_id.encode()).hexdigest()[:24]
    return f"{folder}/{export_id}.{extension}"


def _storage(request: Request) -> ExportStorage:
    state = request.app.state
    if getattr(state, "export_storage", None) is None:
        state.export_storage = open_storage(state.settings)
    return state.export_storage


def job_view(job: ExportJob, storage: ExportStorage | None, api_base_url: str) -> dict[str, Any]:
    """Return the API representation of a job; a completed job gets a fresh download link."""
    view: dict[str, Any] = {
        "export_id": job.export_id,
        "status": job.status,
        "export_type": job.export_type,
        "format": job.format,
        "created_at": _iso(job.created_at),
        "estimated_completion": _iso(job.estimated_completion),
        "started_at": _iso(job.started_at),
        "completed_at": _iso(job.completed_at),
        "rows_written": job.rows_written,
        "file_size_bytes": job.file_size_bytes,
        "download_url": None,
        "expires_at": None,
    }
    if job.status == "completed" and storage is not None:
        filename = job.object_key.rsplit("/", 1)[-1]
        link = storage.download_link(job.object_key, filename, now_ms(), api_base_url)
        view["download_url"] = link.url
        view["expires_at"] = _iso(link.expires_at_ms)
    if job.status == "failed":
        view["error"] = {"code": job.error_code or EXPORT_FAILED, "message": job.error_message}
    return view


def _fingerprint(body: dict[str, Any]) -> str:
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


def _idempotency_key(request: Request) -> str | None:
    key = request.headers.get("idempotency-key")
    if key is None:
        return None
    if not _IDEMPOTENCY_KEY.match(key):
        raise ApiError(
            400, "VALIDATION_ERROR",
            f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY_LENGTH} printable ASCII characters without spaces",
        )
    return key


def _check_campaigns(clickhouse: ClickHouse, export_request: ExportRequest) -> list[str]:
    """Return the campaigns the export covers; raise CAMPAIGN_NOT_FOUND for an unknown one."""
    workspace_id = export_request.workspace_id
    if export_request.campaign_ids is None:
        return workspace_campaigns(clickhouse, workspace_id)
    names = known_campaigns(clickhouse, workspace_id, export_request.campaign_ids)
    for campaign_id in export_request.campaign_ids:
        if campaign_id not in names:
            raise ApiError(404, "CAMPAIGN_NOT_FOUND", f"Campaign {campaign_id} not found in workspace {workspace_id}")
    return list(export_request.campaign_ids)


def _new_job(
    clickhouse: ClickHouse, export_request: ExportRequest, export_id: str, idempotency_key: str | None, fingerprint: str
) -> ExportJob:
    campaign_ids = _check_campaigns(clickhouse, export_request)
    parameters = summary_parameters(export_request.workspace_id, campaign_ids, export_request.time_range, 0)
    rows = int(clickhouse.query_rows(work_size_sql(export_request.export_type), parameters)[0]["n"]) if campaign_ids else 0
    created = now_ms()
    job = ExportJob(
        workspace_id=export_request.workspace_id,
        export_id=export_id,
        status="processing",
        export_type=export_request.export_type,
        format=export_request.format,
        request=export_request.to_json().decode(),
        object_key=object_key(export_request.workspace_id, export_id, export_request.file_extension),
        created_at=created,
        estimated_completion=created + int(estimated_seconds(rows) * 1000),
        estimated_rows=rows,
        idempotency_key=idempotency_key or "",
        request_fingerprint=fingerprint,
    ).changed()
    ExportJobStore(clickhouse).save(job)
    return job


async def create_export(request: Request) -> Response:
    workspace_id = request.path_params["workspace_id"]
    authorize(request, workspace_id)
    idempotency_key = _idempotency_key(request)
    body = await read_json_object(request)
    export_request = parse_export_request(workspace_id, body)
    fingerprint = _fingerprint(body)
    state = request.app.state
    clickhouse: ClickHouse = state.clickhouse
    store = ExportJobStore(clickhouse)

    # A key names one export id, so concurrent repeats of a request share one job.
    if idempotency_key is None:
        export_id = str(uuid.uuid4())
    else:
        export_id = str(uuid.uuid5(_IDEMPOTENCY_NAMESPACE, f"{workspace_id}\n{idempotency_key}"))
        existing = await clickhouse.run(store.get, workspace_id, export_id)
        if existing is not None:
            if existing.request_fingerprint != fingerprint:
                raise ApiError(
                    422, "VALIDATION_ERROR",
                    f"Idempotency-Key {idempotency_key!r} was already used for a different request; "
                    "use a new key for a new export",
                )
            # A job that never reached Kafka is queued again; any other is returned as it is.
            if not existing.failed_before_start:
                return _accepted(existing, request, replayed=True)

    job = await clickhouse.run(_new_job, clickhouse, export_request, export_id, idempotency_key, fingerprint)

    producer = getattr(state, "producer", None)
    try:
        if producer is None:
            raise KafkaError("this process has no Kafka producer")
        await asyncio.wait_for(
            producer.send_and_wait(
                state.settings.topic_export_requests, key=export_id.encode(), value=export_message(job)
            ),
            PUBLISH_TIMEOUT_SECONDS,
        )
    except (KafkaError, asyncio.TimeoutError) as exc:
        detail = str(exc) or type(exc).__name__
        logger.error("export could not be queued: export_id=%s: %s", export_id, detail)
        message = (
            f"the export could not be queued because Kafka did not accept it ({detail}); "
            "retry the request in a few seconds"
        )
        await clickhouse.run(store.save, job.failed(message, before_start=True))
        record_export_job("failed", job.format)
        return error_response(503, EXPORT_FAILED, message, {"Retry-After": str(RETRY_AFTER_SECONDS)})

    record_export_job("processing", job.format)

    logger.info("export queued: workspace=%s export_id=%s type=%s format=%s", workspace_id, export_id, job.export_type, job.format)
    return _accepted(job, request, replayed=False)


def _accepted(job: ExportJob, request: Request, replayed: bool) -> JSONResponse:
    location = str(request.url_for("get_export", workspace_id=job.workspace_id, export_id=job.export_id))
    # A replayed request for a finished job gets its download link, as GET would.
    storage = _storage(request) if job.status == "completed" else None
    response = envelope(job_view(job, storage, str(request.base_url)), status_code=202)
    response.headers["Location"] = location
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


async def get_export(request: Request) -> JSONResponse:
    workspace_id = request.path_params["workspace_id"]
    export_id = request.path_params["export_id"]
    authorize(request, workspace_id)
    state = request.app.state
    clickhouse: ClickHouse = state.clickhouse
    store = ExportJobStore(clickhouse)

    job = await clickhouse.run(store.get, workspace_id, export_id)
    if job is None:
        raise ApiError(404, "EXPORT_NOT_FOUND", f"Export {export_id} not found in workspace {workspace_id}")
    # With no worker left to finish it, a job is failed here rather than shown as processing forever.
    reason = stall_reason(job, now_ms(), state.settings.export_queue_timeout_seconds)
    if reason:
        job = job.failed(reason)
        await clickhouse.run(store.save, job)
    try:
        return envelope(job_view(job, _storage(request), str(request.base_url)))
    except ExportStorageError as exc:
        raise ApiError(503, EXPORT_FAILED, f"the export is stored but no download link could be made: {exc}") from None


async def download_file(request: Request) -> Response:
    """Serve a file of the local backend; the signed link is the authorisation."""
    storage = _storage(request)
    if not isinstance(storage, LocalStorage):
        raise ApiError(404, "EXPORT_NOT_FOUND", "exports are stored in S3; use the download_url of the export")
    key = request.path_params["key"]
    try:
        path = storage.verify(
            key, request.query_params.get("expires", ""), request.query_params.get("signature", ""), now_ms()
        )
    except InvalidLink as exc:
        raise ApiError(403, "FORBIDDEN", str(exc)) from None
    if not path.is_file():
        raise ApiError(404, "EXPORT_NOT_FOUND", "the export file no longer exists; request the export again")
    extension = path.suffix.lstrip(".")
    return FileResponse(path, media_type=CONTENT_TYPES.get(extension, "application/octet-stream"), filename=path.name)
