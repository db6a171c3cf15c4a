"""The export worker: runs the jobs that arrive on ``analytics-export-requests``.

For each message, in order:

1. Read the job record. A job that is finished (a redelivered or repeated
   message) is left alone; so is a job another live worker holds a lease on.
2. Take the lease (``attempts`` + 1). A job that already used every attempt
   is recorded ``failed``.
3. Check that the selection contains data; an empty one fails with "no data in
   the requested range" and writes nothing.
4. Stream ClickHouse's output to storage in a worker thread, while a
   heartbeat renews the lease and records the rows written so far.
5. Record ``completed`` (size, rows, times) or ``failed`` with a reason.

A job always writes the same object key, so a rerun replaces its earlier
object rather than adding one. The sweeper, run on a timer by every worker,
requeues jobs whose lease ran out (their worker died) and fails jobs that no
worker ran within EXPORT_QUEUE_TIMEOUT_SECONDS.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer

from analytics.exports import CONTENT_TYPES, ExportRequest, export_query, has_data_sql
from analytics.queries import summary_parameters, workspace_campaigns
from app.clickhouse import ClickHouse
from app.errors import StorageError
from app.export_jobs import ExportJob, ExportJobStore, now_ms, stall_reason
from app.metrics import record_export_job
from app.settings import Settings
from app.storage import ExportStorage, ExportStorageError
from streams.export_output import Progress, write_export

logger = logging.getLogger(__name__)

RELEASE_TIMEOUT_SECONDS = 5.0


def export_message(job: ExportJob) -> bytes:
    """Return the Kafka value announcing ``job``; the job record stays the source of truth."""
    return orjson.dumps(
        {
            "export_id": job.export_id,
            "workspace_id": job.workspace_id,
            "export_type": job.export_type,
            "format": job.format,
            "request": orjson.loads(job.request),
        }
    )


def no_data_reason(request: ExportRequest) -> str:
    window = request.time_range.as_dict()
    if window["start"] is None:
        where = "at any time"
    else:
        where = f"between {window['start']} and {window['end']}"
    return (
        f"no data in the requested range: the selected campaigns have no "
        f"{'messages sent' if request.export_type == 'campaign_performance' else 'events'} {where}; "
        "choose a wider time_range or other campaign_ids"
    )


class ExportWorker:
    """Runs export jobs for one process; ``clickhouse`` is shared, ``export_clickhouse`` streams exports."""

    def __init__(
        self,
        settings: Settings,
        clickhouse: ClickHouse,
        storage: ExportStorage,
        producer: AIOKafkaProducer,
        export_clickhouse: Callable[[], ClickHouse],
    ) -> None:
        self.settings = settings
        self.clickhouse = clickhouse
        self.store = ExportJobStore(clickhouse)
        self.storage = storage
        self.producer = producer
        self._export_clickhouse_factory = export_clickhouse
        self._export_clickhouse: ClickHouse | None = None
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._running: set[str] = set()
        self._lease_ms = int(settings.export_lease_seconds * 1000)

    def _streaming_clickhouse(self) -> ClickHouse:
        # Created on first use, in the export thread. A stream keeps its client busy
        # for the whole export, so exports get a client of their own.
        if self._export_clickhouse is None:
            self._export_clickhouse = self._export_clickhouse_factory()
        return self._export_clickhouse

    async def handle(self, value: bytes | None) -> None:
        """Run the job a message names.

        A bad message is logged and skipped, and a failed export is recorded
        ``failed``. Raises StorageError when ClickHouse cannot read or write the job record.
        """
        try:
            message = orjson.loads(value or b"")
            workspace_id, export_id = str(message["workspace_id"]), str(message["export_id"])
        except (orjson.JSONDecodeError, KeyError, TypeError):
            logger.warning("export request skipped: the message is not an export job: %r", (value or b"")[:200])
            return

        # Step 1: the current state decides whether there is work.
        job = await self.clickhouse.run(self.store.get, workspace_id, export_id)
        if job is None:
            logger.warning("export request skipped: no job record: workspace=%s export_id=%s", workspace_id, export_id)
            return
        if job.finished:
            logger.info("export request skipped: already %s: export_id=%s", job.status, export_id)
            return
        if export_id in self._running:
            return
        if job.lease_owner and job.lease_owner != self.owner and (job.lease_expires_at or 0) > now_ms():
            logger.info("export request skipped: running on %s: export_id=%s", job.lease_owner, export_id)
            return

        # Step 2: the lease.
        if job.attempts >= self.settings.export_max_attempts:
            await self._save(job.failed(self._interrupted_reason(job)))
            return
        self._running.add(export_id)
        try:
            await self._run(job)
        finally:
            self._running.discard(export_id)

    def _interrupted_reason(self, job: ExportJob) -> str:
        return (
            f"the export was interrupted {job.attempts} times (the worker running it stopped or crashed); "
            "request it again, and check the workers' logs if it keeps failing"
        )

    async def _save(self, job: ExportJob) -> ExportJob:
        await self.clickhouse.run(self.store.save, job)
        return job

    async def _run(self, job: ExportJob) -> None:
        started = now_ms()
        job = await self._save(
            job.changed(
                lease_owner=self.owner,
                lease_expires_at=started + self._lease_ms,
                attempts=job.attempts + 1,
                started_at=started,
                rows_written=0,
            )
        )
        logger.info("export started: export_id=%s attempt=%s", job.export_id, job.attempts)
        request = ExportRequest.from_json(job.request)
        progress = Progress()
        cancel = threading.Event()
        state = {"job": job}
        heartbeat = asyncio.create_task(self._heartbeat(state, progress), name=f"export-heartbeat-{job.export_id}")
        try:
            size = await asyncio.to_thread(self._write, job, request, progress, cancel)
            outcome: dict[str, object] = {"status": "completed", "file_size_bytes": size, "rows_written": progress.rows}
        except asyncio.CancelledError:
            # The worker is stopping: let the thread abort its upload, and give up the
            # lease so that the next worker resumes the job without waiting for it to run out.
            cancel.set()
            heartbeat.cancel()
            released = state["job"].changed(lease_owner="", lease_expires_at=now_ms())
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(self._save(released)), RELEASE_TIMEOUT_SECONDS)
            raise
        except _NoData as exc:
            logger.info("export failed: export_id=%s: %s", job.export_id, exc)
            outcome = {"reason": str(exc)}
        except ExportStorageError as exc:
            logger.warning("export failed: export_id=%s: %s", job.export_id, exc)
            outcome = {"reason": str(exc)}
        except StorageError as exc:
            logger.warning("export failed: export_id=%s: ClickHouse: %s", job.export_id, exc)
            outcome = {"reason": f"the query failed in ClickHouse: {exc}"}
        except Exception as exc:
            logger.exception("export failed: export_id=%s", job.export_id)
            outcome = {
                "reason": f"the export failed unexpectedly ({type(exc).__name__}: {exc}); "
                f"see the worker log for export_id {job.export_id}"
            }
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat

        # Step 5: the final record, built after the heartbeat stopped so that its version is the highest.
        export_format = request.format
        if "reason" in outcome:
            await self._save(state["job"].failed(str(outcome["reason"])))
            record_export_job("failed", export_format, (now_ms() - started) / 1000)
            return
        completed = now_ms()
        await self._save(
            state["job"].changed(completed_at=completed, lease_owner="", lease_expires_at=None, **outcome)
        )
        record_export_job("completed", export_format, (completed - started) / 1000)
        logger.info(
            "export completed: export_id=%s rows=%s bytes=%s seconds=%.2f",
            job.export_id, progress.rows, outcome["file_size_bytes"], (completed - started) / 1000,
        )

    async def _heartbeat(self, state: dict[str, ExportJob], progress: Progress) -> None:
        interval = self.settings.export_lease_seconds / 3
        while True:
            await asyncio.sleep(interval)
            renewed = state["job"].changed(lease_expires_at=now_ms() + self._lease_ms, rows_written=progress.rows)
            try:
                await self._save(renewed)
            except StorageError as exc:
                # The lease may run out if this keeps failing; another worker then reruns the job.
                logger.warning("export lease renewal failed: export_id=%s: %s", renewed.export_id, exc)
                continue
            state["job"] = renewed

    def _write(self, job: ExportJob, request: ExportRequest, progress: Progress, cancel: threading.Event) -> int:
        """Check for data and write the file; runs in a worker thread."""
        clickhouse = self._streaming_clickhouse()
        campaign_ids = list(request.campaign_ids or workspace_campaigns(clickhouse, request.workspace_id))
        parameters = summary_parameters(
            request.workspace_id, campaign_ids, request.time_range, self.settings.bot_click_window_seconds
        )
        # Step 3: an empty selection writes nothing.
        if not campaign_ids or not clickhouse.query_rows(has_data_sql(request.export_type), parameters)[0]["n"]:
            raise _NoData(no_data_reason(request))

        # Step 4: ClickHouse output to storage.
        query = export_query(request, campaign_ids, self.settings.bot_click_window_seconds)
        return write_export(
            clickhouse,
            query,
            request,
            lambda: self.storage.open_writer(job.object_key, CONTENT_TYPES[request.format]),
            progress,
            cancel,
        )

    async def sweep(self) -> None:
        """Requeue jobs whose worker died and fail jobs no worker ran in time."""
        now = now_ms()
        for job in await self.clickhouse.run(self.store.unfinished):
            if job.export_id in self._running:
                continue
            reason = stall_reason(job, now, self.settings.export_queue_timeout_seconds)
            if reason:
                logger.warning("export stalled: export_id=%s: %s", job.export_id, reason)
                await self._save(job.failed(reason))
                continue
            if job.lease_expires_at is None or job.lease_expires_at > now:
                continue
            if job.attempts >= self.settings.export_max_attempts:
                await self._save(job.failed(self._interrupted_reason(job)))
                continue
            # Clearing the lease first means one requeue per lost lease, however many workers sweep.
            await self._save(job.changed(lease_owner="", lease_expires_at=None))
            await self.producer.send_and_wait(
                self.settings.topic_export_requests, key=job.export_id.encode(), value=export_message(job)
            )
            logger.warning(
                "export requeued after its worker stopped: export_id=%s attempts=%s", job.export_id, job.attempts
            )

    def close(self) -> None:
        if self._export_clickhouse is not None:
            self._export_clickhouse.close()


class _NoData(Exception):
    pass


def register_export_agent(app: Any, worker: ExportWorker, settings: Settings) -> None:
    """Add the export agent and the sweeper timer to the Faust ``app``."""
    topic = app.topic(
        settings.topic_export_requests, key_type=bytes, value_type=bytes, value_serializer="raw", key_serializer="raw"
    )

    @app.agent(topic, name="export-requests", concurrency=settings.export_concurrency)
    async def export_requests(stream: Any) -> None:
        async for value in stream:
            try:
                await worker.handle(value)
            except Exception:
                # The job stays processing; the sweeper requeues it once its lease runs out.
                logger.exception("export request failed: value=%r", (value or b"")[:200])

    @app.timer(interval=max(settings.export_lease_seconds / 2, 0.5))
    async def sweep_exports() -> None:
        try:
            await worker.sweep()
        except Exception:
            # The next tick tries again; a failed sweep only delays recovery.
            logger.exception("export sweep failed")
