"""Export throughput: the product's export path against ClickHouse writing the same file itself.

Steps, all in this process against one chDB:

1. Fill ``email_events`` with ``rows`` events (:mod:`benchmarks.export_data`).
2. Run the events export query once with ``FORMAT Null``, so that no measured
   run pays for the first read of the table.
3. For CSV, then Parquet:

   a. *Export*: one ``events`` export job's work, as ``ExportWorker._write``
      does it (campaign list, data check, ``export_query``, ``write_export``)
      into ``LocalStorage`` (``file://`` in the run's folder), without Kafka
      and without the job record. First an export of a quarter of the
      campaigns (a quarter of the rows), then of all of them, so that the
      two RSS growths show whether memory grows with the row count.
   b. *Baseline*: ClickHouse writes the same query (for CSV, the one with
      neutralised formulas) ``INTO OUTFILE`` with the export's output-format
      settings and its default threads and block size.
   c. The same with the export's whole SETTINGS clause (one thread, blocks of
      8192 rows), to show how much of any gap those settings make.

   Every file is then counted in ClickHouse and must contain every row its
   query selects.
4. Read the CSV stream again, timing the reads apart from the product's
   record counting.

Before each measured step ClickHouse returns its cached memory to the system
(``SYSTEM JEMALLOC PURGE``), so that each RSS growth starts from the same state.
"""

from __future__ import annotations

import datetime as dt
import filecmp
import gc
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from analytics.exports import (
    CONTENT_TYPES,
    ExportFormat,
    ExportQuery,
    ExportRequest,
    export_query,
    has_data_sql,
    neutralize_formulas,
)
from analytics.queries import summary_parameters, workspace_campaigns
from analytics.time_range import TimeRange
from app.clickhouse import ClickHouse
from app.errors import StorageError
from app.schema import migrate
from app.settings import Settings, load_settings
from app.storage import ExportStorage, open_storage
from benchmarks.export_data import WORKSPACE_ID, fill_events
from benchmarks.measurement import BenchmarkError
from benchmarks.memory import PeakRss, peak_rss_method
from streams.export_output import (
    CHUNK_BYTES,
    PARQUET_SETTINGS,
    STREAM_SETTINGS,
    TEXT_SETTINGS,
    Progress,
    _count_csv_records,  # private, timed on its own because it is a large share of a CSV export
    write_export,
)
from streams.ingest import RAW_EVENTS_TABLE

logger = logging.getLogger(__name__)

FORMATS: tuple[ExportFormat, ...] = ("csv", "parquet")
# The ClickHouse format each export format's file is written in.
CLICKHOUSE_FORMATS: dict[str, str] = {"csv": "CSVWithNames", "parquet": "Parquet"}
EXPORT_SETTINGS: dict[str, str] = {"csv": TEXT_SETTINGS, "parquet": PARQUET_SETTINGS}


@dataclass(frozen=True, slots=True)
class FileRun:
    """One measured write of the events export to a file."""

    writer: str
    format: str
    rows: int
    file_bytes: int
    seconds: float
    rss_growth_mib: float

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds

    @property
    def megabytes_per_second(self) -> float:
        """File size over time, in MB (10^6 bytes) per second."""
        return self.file_bytes / 1e6 / self.seconds


@dataclass(frozen=True, slots=True)
class CsvStreamTimes:
    """A read of the CSV export stream outside the export, split into reading and record counting."""

    bytes: int
    chunks: int
    read_seconds: float
    count_seconds: float


@dataclass(frozen=True)
class ExportResults:
    rows: int
    campaigns: int
    fill_seconds: float
    exports: dict[str, FileRun]
    """The product's export of every row, by format."""
    quarter_exports: dict[str, FileRun]
    """The product's export of a quarter of the campaigns, by format."""
    baselines: dict[str, FileRun]
    """ClickHouse INTO OUTFILE with default threads and block size, by format."""
    baselines_with_export_settings: dict[str, FileRun]
    csv_identical_to_baseline: bool
    csv_stream: CsvStreamTimes
    repeats: int
    memory_method: str

    def ratio(self, export_format: str) -> float:
        """Return the export's rows/s over the baseline's rows/s for ``export_format``."""
        return self.exports[export_format].rows_per_second / self.baselines[export_format].rows_per_second


def _without_stream_settings(clause: str) -> str:
    """Return the export's SETTINGS ``clause`` less its thread and block-size settings."""
    prefix = f"SETTINGS {STREAM_SETTINGS}"
    if not clause.startswith(prefix):
        raise BenchmarkError(
            f"the export's SETTINGS clause {clause!r} does not start with {prefix!r}, so the baseline "
            "settings cannot be derived from it: update _without_stream_settings in benchmarks/export_throughput.py"
        )
    rest = clause[len(prefix) :].lstrip(", ")
    return f"SETTINGS {rest}" if rest else ""


def _release_memory(clickhouse: ClickHouse) -> None:
    gc.collect()
    try:
        clickhouse.command("SYSTEM JEMALLOC PURGE")
    except StorageError as exc:
        # A build without jemalloc: RSS growth may then be understated after a larger step.
        logger.warning("SYSTEM JEMALLOC PURGE failed, RSS figures start from cached memory: %s", exc)


def export_settings(workdir: Path, clickhouse_dsn: str) -> Settings:
    return load_settings(
        clickhouse_url=clickhouse_dsn,
        data_dir=workdir,
        export_storage_url=(workdir / "exports").as_uri(),
    )


def export_with_product(
    clickhouse: ClickHouse, storage: ExportStorage, settings: Settings, request: ExportRequest, key: str
) -> tuple[int, int]:
    """Run one export job's work as ``ExportWorker._write`` does.

    Returns the file size in bytes and the rows the job counted.
    """
    campaign_ids = list(request.campaign_ids or workspace_campaigns(clickhouse, request.workspace_id))
    parameters = summary_parameters(
        request.workspace_id, campaign_ids, request.time_range, settings.bot_click_window_seconds
    )
    if not campaign_ids or not clickhouse.query_rows(has_data_sql(request.export_type), parameters)[0]["n"]:
        raise BenchmarkError(
            f"the export of workspace {request.workspace_id} found no data in its time range"
        )

    query = export_query(request, campaign_ids, settings.bot_click_window_seconds)
    progress = Progress()
    size = write_export(
        clickhouse,
        query,
        request,
        lambda: storage.open_writer(key, CONTENT_TYPES[request.format]),
        progress,
        threading.Event(),
    )
    return size, progress.rows


def _quoted(path: Path) -> str:
    return "'" + str(path).replace("\\", "\\\\").replace("'", "\\'") + "'"


def _baseline_sql(query: ExportQuery, export_format: str) -> str:
    """Return the SELECT the export runs for ``export_format``: CSV neutralises formulas first."""
    return neutralize_formulas(query, csv_text=True) if export_format == "csv" else query.sql


def write_outfile(
    clickhouse: ClickHouse, query: ExportQuery, export_format: str, path: Path, settings: str
) -> None:
    """Let ClickHouse write the export's SELECT to ``path`` itself, in ``export_format``."""
    clickhouse.command(
        f"{_baseline_sql(query, export_format)} INTO OUTFILE {_quoted(path)} "
        f"FORMAT {CLICKHOUSE_FORMATS[export_format]} {settings}",
        query.parameters,
    )


def count_file_rows(clickhouse: ClickHouse, path: Path, export_format: str) -> int:
    rows = clickhouse.query_rows(
        f"SELECT count() AS n FROM file({{path:String}}, '{CLICKHOUSE_FORMATS[export_format]}')",
        {"path": str(path)},
    )
    return int(rows[0]["n"])


def _check_rows(clickhouse: ClickHouse, path: Path, export_format: str, expected: int, writer: str) -> None:
    counted = count_file_rows(clickhouse, path, export_format)
    if counted != expected:
        raise BenchmarkError(
            f"the {export_format} file of {writer} ({path}) contains {counted} rows, expected {expected}"
        )


def time_csv_stream(clickhouse: ClickHouse, query: ExportQuery) -> CsvStreamTimes:
    """Read the CSV export stream as the export does, timing the reads and the record counting apart."""
    sql = neutralize_formulas(query, csv_text=True)
    read_seconds = count_seconds = 0.0
    size = chunks = 0
    inside_quotes = False
    with clickhouse.raw_stream(f"{sql} {TEXT_SETTINGS}", query.parameters, "CSV") as stream:
        while True:
            started = time.perf_counter()
            chunk = stream.read(CHUNK_BYTES)
            read_seconds += time.perf_counter() - started
            if not chunk:
                break
            started = time.perf_counter()
            _, inside_quotes = _count_csv_records(chunk, inside_quotes)
            count_seconds += time.perf_counter() - started
            size += len(chunk)
            chunks += 1
    return CsvStreamTimes(size, chunks, read_seconds, count_seconds)


def _measure(
    clickhouse: ClickHouse,
    write: Callable[[int], Path],
    repeats: int,
    writer: str,
    export_format: str,
    rows: int,
) -> tuple[FileRun, Path]:
    """Call ``write`` ``repeats`` times and return the fastest time, the largest RSS growth and the last file.

    ``write(attempt)`` writes one file and returns its path. Each file must
    contain ``rows`` rows, and every file but the last is deleted.
    """
    seconds: list[float] = []
    growths: list[float] = []
    path: Path | None = None
    for attempt in range(repeats):
        if path is not None:
            path.unlink()
        _release_memory(clickhouse)
        with PeakRss() as rss:
            started = time.perf_counter()
            path = write(attempt)
            seconds.append(time.perf_counter() - started)
        growths.append(rss.growth_mib)
        _check_rows(clickhouse, path, export_format, rows, writer)
    assert path is not None  # repeats is at least 1
    logger.info(
        "%s, %s: %s rows, %s, fastest of %s in %.2f s",
        writer,
        export_format,
        rows,
        ", ".join(f"{value:.2f} s" for value in seconds),
        repeats,
        min(seconds),
    )
    return FileRun(writer, export_format, rows, path.stat().st_size, min(seconds), max(growths)), path


def _product_writer(
    clickhouse: ClickHouse,
    storage: ExportStorage,
    settings: Settings,
    request: ExportRequest,
    expected_rows: int,
) -> Callable[[int], Path]:
    """Return a ``write`` for :func:`_measure` that runs the product's export of ``request``."""

    def write(attempt: int) -> Path:
        key = f"{WORKSPACE_ID}/benchmark-{uuid.uuid4().hex[:8]}.{request.file_extension}"
        size, counted = export_with_product(clickhouse, storage, settings, request, key)
        if counted != expected_rows:
            raise BenchmarkError(
                f"the {request.format} export counted {counted} rows, expected {expected_rows}"
            )
        path = settings.data_dir / "exports" / key
        if path.stat().st_size != size:
            raise BenchmarkError(f"the export reported {size} bytes, but {path} has {path.stat().st_size}")
        return path

    return write


def _outfile_writer(
    clickhouse: ClickHouse, query: ExportQuery, export_format: str, folder: Path, name: str, settings: str
) -> Callable[[int], Path]:
    """Return a ``write`` for :func:`_measure` that lets ClickHouse write the file with ``settings``."""

    def write(attempt: int) -> Path:
        path = folder / f"{name}-{attempt}.{export_format}"
        write_outfile(clickhouse, query, export_format, path, settings)
        return path

    return write


def measure_export_throughput(
    clickhouse_dsn: str, workdir: Path, rows: int, repeats: int, send_start: dt.datetime
) -> ExportResults:
    """Fill the raw table of the chDB at ``clickhouse_dsn`` with ``rows`` events and measure every writer.

    The raw table must be empty. Each writer runs ``repeats`` times and keeps
    its fastest time and its largest RSS growth. Files go to ``workdir`` and
    are deleted once checked, so that at most three are on disk at a time.
    """
    settings = export_settings(workdir, clickhouse_dsn)
    storage = open_storage(settings)
    baseline_folder = workdir / "baselines"
    baseline_folder.mkdir()
    clickhouse = ClickHouse(clickhouse_dsn)
    # The export streams through a client of its own, as in the export worker.
    stream_clickhouse = ClickHouse(clickhouse_dsn)
    try:
        # Step 1: the raw events.
        migrate(clickhouse, settings.raw_event_retention_days)
        fill_seconds = fill_events(clickhouse, rows, send_start)
        time_range = TimeRange(send_start, send_start + dt.timedelta(days=2), "custom")
        campaigns = workspace_campaigns(clickhouse, WORKSPACE_ID)
        quarter = tuple(campaigns[: max(len(campaigns) // 4, 1)])
        quarter_rows = int(
            clickhouse.query_rows(
                f"SELECT count() AS n FROM {RAW_EVENTS_TABLE} "
                "WHERE campaign_id IN {campaign_ids:Array(String)}",
                {"campaign_ids": list(quarter)},
            )[0]["n"]
        )
        query = export_query(
            ExportRequest(WORKSPACE_ID, "events", "csv", time_range),
            campaigns,
            settings.bot_click_window_seconds,
        )

        # Step 2: one unmeasured read.
        clickhouse.command(f"{query.sql} FORMAT Null", query.parameters)

        # Step 3: each format, the exports first.
        exports: dict[str, FileRun] = {}
        quarter_exports: dict[str, FileRun] = {}
        baselines: dict[str, FileRun] = {}
        with_settings: dict[str, FileRun] = {}
        csv_identical = False
        for export_format in FORMATS:
            request = ExportRequest(WORKSPACE_ID, "events", export_format, time_range, campaign_ids=quarter)
            quarter_exports[export_format], path = _measure(
                clickhouse,
                _product_writer(stream_clickhouse, storage, settings, request, quarter_rows),
                repeats,
                f"export, {len(quarter)} of {len(campaigns)} campaigns",
                export_format,
                quarter_rows,
            )
            path.unlink()

            request = ExportRequest(WORKSPACE_ID, "events", export_format, time_range)
            exports[export_format], export_path = _measure(
                clickhouse,
                _product_writer(stream_clickhouse, storage, settings, request, rows),
                repeats,
                "export",
                export_format,
                rows,
            )

            defaults = _without_stream_settings(EXPORT_SETTINGS[export_format])
            baselines[export_format], path = _measure(
                clickhouse,
                _outfile_writer(clickhouse, query, export_format, baseline_folder, "defaults", defaults),
                repeats,
                "ClickHouse INTO OUTFILE, default threads and block size",
                export_format,
                rows,
            )
            if export_format == "csv":
                csv_identical = filecmp.cmp(export_path, path, shallow=False)
            path.unlink()
            export_path.unlink()

            export_clause = EXPORT_SETTINGS[export_format]
            with_settings[export_format], path = _measure(
                clickhouse,
                _outfile_writer(clickhouse, query, export_format, baseline_folder, "settings", export_clause),
                repeats,
                "ClickHouse INTO OUTFILE, the export's SETTINGS",
                export_format,
                rows,
            )
            path.unlink()

        # Step 4: reading and record counting apart, the fastest read kept.
        csv_stream = min(
            (time_csv_stream(stream_clickhouse, query) for _ in range(repeats)),
            key=lambda times: times.read_seconds + times.count_seconds,
        )
    finally:
        stream_clickhouse.close()
        clickhouse.close()

    return ExportResults(
        rows=rows,
        campaigns=len(campaigns),
        fill_seconds=fill_seconds,
        exports=exports,
        quarter_exports=quarter_exports,
        baselines=baselines,
        baselines_with_export_settings=with_settings,
        csv_identical_to_baseline=csv_identical,
        csv_stream=csv_stream,
        repeats=repeats,
        memory_method=peak_rss_method(),
    )
