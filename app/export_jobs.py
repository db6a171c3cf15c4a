"""Export job records in ClickHouse (``export_jobs``) and the rules for stalled jobs.

A job is ``processing`` until a worker records it ``completed`` or
``failed``. Every change inserts the whole record again with a higher
``version``; the newest version is the job's state. A worker that runs a job
holds a lease on it (``lease_owner``, ``lease_expires_at``) and renews it
while it writes, so a job whose lease ran out belongs to a worker that died.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any, Literal

from app.clickhouse import ClickHouse

JobStatus = Literal["processing", "completed", "failed"]
EXPORT_FAILED = "EXPORT_FAILED"

_COLUMNS = (
    "workspace_id", "export_id", "version", "status", "export_type", "format", "request", "idempotency_key",
    "request_fingerprint", "object_key", "estimated_rows", "rows_written", "file_size_bytes", "error_code",
    "error_message", "failed_before_start", "attempts", "lease_owner", "lease_expires_at", "created_at",
    "estimated_completion", "started_at", "completed_at",
)
_TIME_COLUMNS = ("lease_expires_at", "created_at", "estimated_completion", "started_at", "completed_at")


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True)
class ExportJob:
    """One version of an export job; times are milliseconds since 1970 (UTC)."""

    workspace_id: str
    export_id: str
    status: JobStatus
    export_type: str
    format: str
    request: str
    object_key: str
    created_at: int
    estimated_completion: int
    estimated_rows: int = 0
    idempotency_key: str = ""
    request_fingerprint: str = ""
    rows_written: int | None = None
    file_size_bytes: int | None = None
    error_code: str = ""
    error_message: str = ""
    failed_before_start: bool = False
    attempts: int = 0
    lease_owner: str = ""
    lease_expires_at: int | None = None
    started_at: int | None = None
    completed_at: int | None = None
    version: int = 0

    @property
    def finished(self) -> bool:
        return self.status != "processing"

    def changed(self, **changes: Any) -> ExportJob:
        """Return the next version of this job with ``changes`` applied."""
        version = max(time.time_ns() // 1000, self.version + 1)
        return dataclasses.replace(self, version=version, **changes)

    def failed(self, message: str, before_start: bool = False) -> ExportJob:
        return self.changed(
            status="failed",
            error_code=EXPORT_FAILED,
            error_message=message,
            failed_before_start=before_start,
            completed_at=now_ms(),
            lease_owner="",
            lease_expires_at=None,
        )

    def row(self) -> tuple[Any, ...]:
        return tuple(
            int(value) if isinstance(value, bool) else value
            for value in (getattr(self, name) for name in _COLUMNS)
        )


def stall_reason(job: ExportJob, now: int, queue_timeout_seconds: float) -> str | None:
    """Return why an unfinished job counts as stalled with no worker left to finish it, or None.

    A job is stalled when no worker has held a lease on it for the queue
    timeout: it was never started (no worker consumes the export topic), or
    its last lease ran out that long ago and no worker took it over.
    """
    if job.finished:
        return None
    timeout_ms = int(queue_timeout_seconds * 1000)
    if job.lease_expires_at is None:
        waiting_since = job.version // 1000
        if now - waiting_since > timeout_ms:
            return (
                f"no export worker started the job within {queue_timeout_seconds:.0f} s; "
                "check that a worker is running, then request the export again"
            )
        return None
    if now - job.lease_expires_at > timeout_ms:
        return (
            f"the worker running the export stopped and none took it over within {queue_timeout_seconds:.0f} s; "
            "check that a worker is running, then request the export again"
        )
    return None


_SELECT = f"""
SELECT {", ".join(name for name in _COLUMNS if name not in _TIME_COLUMNS)},
    {", ".join(f"toUnixTimestamp64Milli({name}) AS {name}" for name in _TIME_COLUMNS)}
FROM export_jobs
"""


class ExportJobStore:
    """Reads and writes job records through the shared ClickHouse object (short calls only)."""

    def __init__(self, clickhouse: ClickHouse) -> None:
        self.clickhouse = clickhouse

    def save(self, job: ExportJob) -> None:
        self.clickhouse.insert_columns("export_jobs", [[value] for value in job.row()], _COLUMNS)

    def get(self, workspace_id: str, export_id: str) -> ExportJob | None:
        rows = self.clickhouse.query_rows(
            _SELECT + """
            WHERE workspace_id = {workspace_id:String} AND export_id = {export_id:String}
            ORDER BY version DESC
            LIMIT 1
            """,
            {"workspace_id": workspace_id, "export_id": export_id},
        )
        return _job_from_row(rows[0]) if rows else None

    def unfinished(self) -> list[ExportJob]:
        """Return the current version of every job still ``processing``."""
        rows = self.clickhouse.query_rows(
            f"""
            SELECT * FROM ({_SELECT} ORDER BY workspace_id, export_id, version DESC LIMIT 1 BY workspace_id, export_id)
            WHERE status = 'processing'
            """
        )
        return [_job_from_row(row) for row in rows]


def _job_from_row(row: dict[str, Any]) -> ExportJob:
    values = {name: row[name] for name in _COLUMNS}
    values["failed_before_start"] = bool(values["failed_before_start"])
    for name in ("version", "estimated_rows", "attempts"):
        values[name] = int(values[name])
    return ExportJob(**values)
