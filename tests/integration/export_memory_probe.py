"""Measure the memory of one large events export in a fresh process; run by test_export_memory.

Usage: ``python -m tests.integration.export_memory_probe FOLDER ROWS FORMAT``. The events are
generated in a child process first, so that the memory ClickHouse used to insert them is not
part of the measurement. Prints one JSON object: rows and bytes written, seconds, and the
process's resident memory before the export and at its peak during the export (Linux
``/proc``), in bytes.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import uuid
from pathlib import Path

import orjson

from analytics.exports import ExportRequest
from analytics.time_range import parse_time_range
from app.clickhouse import ClickHouse
from app.export_jobs import ExportJob, ExportJobStore, now_ms
from app.schema import migrate
from app.settings import load_settings
from app.storage.local import LocalStorage
from streams.exports import ExportWorker
from tests.export_data import generate_events


def status_bytes(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"/proc/self/status has no {field}")


class NoProducer:
    async def send_and_wait(self, topic: str, key: bytes, value: bytes) -> None:
        raise RuntimeError("the probe publishes nothing")


def generate(folder: Path, rows: int) -> None:
    clickhouse = ClickHouse(f"chdb://{folder / 'clickhouse'}")
    migrate(clickhouse, load_settings(data_dir=folder).raw_event_retention_days)
    generate_events(clickhouse, "probe", rows, campaigns=3)
    clickhouse.close()


def main(folder: Path, rows: int, export_format: str) -> dict[str, int | float]:
    subprocess.run(
        [sys.executable, "-m", "tests.integration.export_memory_probe", str(folder), str(rows), "generate"], check=True
    )
    settings = load_settings(data_dir=folder)
    clickhouse = ClickHouse(f"chdb://{folder / 'clickhouse'}")
    storage = LocalStorage(folder / "exports", b"probe-key", 3600)
    worker = ExportWorker(settings, clickhouse, storage, NoProducer(), lambda: ClickHouse(clickhouse.dsn))  # type: ignore[arg-type]

    request = ExportRequest("probe", "events", export_format, parse_time_range("all"))  # type: ignore[arg-type]
    export_id = str(uuid.uuid4())
    job = ExportJob(
        workspace_id="probe", export_id=export_id, status="processing", export_type="events", format=export_format,
        request=request.to_json().decode(), object_key=f"probe/{export_id}.{export_format}",
        created_at=now_ms(), estimated_completion=now_ms(),
    ).changed()
    ExportJobStore(clickhouse).save(job)

    before = status_bytes("VmRSS")
    # Writing 5 to clear_refs resets the peak (VmHWM) to the current size (Linux 4.0 and later).
    Path("/proc/self/clear_refs").write_text("5")
    started = time.perf_counter()
    asyncio.run(worker.handle(orjson.dumps({"export_id": export_id, "workspace_id": "probe"})))
    seconds = time.perf_counter() - started
    peak = status_bytes("VmHWM")

    done = ExportJobStore(clickhouse).get("probe", export_id)
    assert done is not None and done.status == "completed", done
    worker.close()
    return {
        "rows": done.rows_written or 0,
        "bytes": done.file_size_bytes or 0,
        "seconds": seconds,
        "rss_before": before,
        "rss_peak": peak,
    }


if __name__ == "__main__":
    if sys.argv[3] == "generate":
        generate(Path(sys.argv[1]), int(sys.argv[2]))
    else:
        print(orjson.dumps(main(Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3])).decode())
