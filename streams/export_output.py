"""Export files written by ClickHouse and streamed to storage in chunks.

ClickHouse produces every byte of the rows; this module only frames them:

- ``csv``: the header comes from ``CSVWithNames`` on the same query with
  ``LIMIT 0``, the rows from ``CSV``. With ``excel`` the file starts with a
  UTF-8 byte order mark, which Excel needs to read UTF-8.
- ``ndjson``: ``JSONEachRow`` as it is.
- ``json``: a JSON array of the ``JSONEachRow`` objects. JSON strings escape
  line breaks, so each line is one object and the array is built by joining
  lines with commas.
- ``parquet``: a format with a footer. A ClickHouse server streams it over
  HTTP; chDB builds such formats whole in memory when asked for a stream, so
  with chDB ClickHouse writes the file to a temporary folder
  (``INTO OUTFILE``) and it is uploaded from there in chunks.

Memory stays flat: at most one chunk of ClickHouse output and one storage
part are held at a time.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from analytics.exports import ExportQuery, ExportRequest, neutralize_formulas
from app.clickhouse import ClickHouse
from app.storage import ObjectWriter

logger = logging.getLogger(__name__)

CHUNK_BYTES = 1024 * 1024
UTF8_BOM = b"\xef\xbb\xbf"
# ClickHouse computes blocks ahead of the reader, and chDB keeps every block it
# computed until it is read, so the memory of a stream grows with the block size and
# the number of reading threads. One thread and blocks of 8192 rows keep a
# 3-million-row events export under about 100 MiB (chDB 4.4, 2-core machine).
STREAM_SETTINGS = "max_threads = 1, max_block_size = 8192"
# Numbers as JSON numbers rather than quoted strings, times as ISO 8601 in UTC, NULL as an empty CSV cell.
TEXT_SETTINGS = (
    f"SETTINGS {STREAM_SETTINGS}, output_format_json_quote_64bit_integers = 0, date_time_output_format = 'iso', "
    "format_csv_null_representation = ''"
)
# ClickHouse keeps a whole row group in memory while it writes Parquet; its default
# of one million rows would make memory grow with the export.
PARQUET_SETTINGS = f"SETTINGS {STREAM_SETTINGS}, output_format_parquet_row_group_size = 100000"


class ExportCancelled(Exception):
    """The worker is stopping; the export was abandoned before it finished."""


@dataclass
class Progress:
    """Rows written so far, updated by the writing thread and read by the heartbeat."""

    rows: int = 0


def _count_csv_records(chunk: bytes, inside_quotes: bool) -> tuple[int, bool]:
    """Count the records a chunk of ClickHouse CSV ends, and whether it ends inside a quoted field.

    A line break ends a record unless it is inside double quotes; an escaped
    quote (``""``) flips the state twice, so counting quotes suffices.
    """
    data = np.frombuffer(chunk, dtype=np.uint8)
    quote_positions = np.flatnonzero(data == ord('"'))
    newline_positions = np.flatnonzero(data == ord("\n"))
    # A line break is inside a quoted field when an odd number of quotes precede it.
    # Searching sorted positions avoids a cumulative sum over every byte.
    quotes_before = np.searchsorted(quote_positions, newline_positions) + int(inside_quotes)
    records = int(np.count_nonzero((quotes_before & 1) == 0))
    ends_inside = bool((len(quote_positions) + int(inside_quotes)) & 1)
    return records, ends_inside


def _read_chunks(stream: object) -> Iterator[bytes]:
    read = stream.read  # type: ignore[attr-defined]
    while True:
        chunk = read(CHUNK_BYTES)
        if not chunk:
            return
        yield chunk


def _stream_csv(clickhouse: ClickHouse, sql: str, query: ExportQuery, request: ExportRequest) -> Iterator[tuple[bytes, int]]:
    header = clickhouse.raw_query(f"SELECT * FROM ({sql}) LIMIT 0 {TEXT_SETTINGS}", query.parameters, "CSVWithNames")
    yield (UTF8_BOM + header if request.excel else header), 0

    inside_quotes = False
    with clickhouse.raw_stream(f"{sql} {TEXT_SETTINGS}", query.parameters, "CSV") as stream:
        for chunk in _read_chunks(stream):
            records, inside_quotes = _count_csv_records(chunk, inside_quotes)
            yield chunk, records


def _stream_json_lines(clickhouse: ClickHouse, sql: str, query: ExportQuery, as_array: bool) -> Iterator[tuple[bytes, int]]:
    first = True
    if as_array:
        yield b"[", 0
    with clickhouse.raw_stream(f"{sql} {TEXT_SETTINGS}", query.parameters, "JSONEachRow") as stream:
        pending = b""
        for chunk in _read_chunks(stream):
            data = pending + chunk
            # Only whole lines go out, so the comma framing never splits an object.
            end = data.rfind(b"\n") + 1
            lines, pending = data[:end], data[end:]
            if not lines:
                continue
            records = lines.count(b"\n")
            if as_array:
                body = lines[:-1].replace(b"\n", b",\n")
                lines = (b"\n" if first else b",\n") + body
            first = False
            yield lines, records
        if pending:
            raise ValueError("ClickHouse ended JSONEachRow output in the middle of a line")
    if as_array:
        yield (b"]\n" if first else b"\n]\n"), 0


def _stream_parquet(clickhouse: ClickHouse, sql: str, query: ExportQuery) -> Iterator[tuple[bytes, int]]:
    if not clickhouse.is_embedded:
        with clickhouse.raw_stream(f"{sql} {PARQUET_SETTINGS}", query.parameters, "Parquet") as stream:
            for chunk in _read_chunks(stream):
                yield chunk, 0
        return

    with tempfile.TemporaryDirectory(prefix="campaign-analytics-export-") as folder:
        path = Path(folder) / "export.parquet"
        quoted = str(path).replace("\\", "\\\\").replace("'", "\\'")
        clickhouse.command(f"{sql} INTO OUTFILE '{quoted}' FORMAT Parquet {PARQUET_SETTINGS}", query.parameters)
        rows = clickhouse.query_rows(
            "SELECT count() AS n FROM file({path:String}, 'Parquet')", {"path": str(path)}
        )[0]["n"]
        with open(path, "rb") as handle:
            first = True
            for chunk in _read_chunks(handle):
                yield chunk, (int(rows) if first else 0)
                first = False


def export_chunks(clickhouse: ClickHouse, query: ExportQuery, request: ExportRequest) -> Iterator[tuple[bytes, int]]:
    """Yield ``(bytes, records in them)`` of the export file, in order."""
    if request.format == "csv":
        sql = neutralize_formulas(query, csv_text=True)
        return _stream_csv(clickhouse, sql, query, request)
    if request.format in ("ndjson", "json"):
        return _stream_json_lines(clickhouse, query.sql, query, as_array=request.format == "json")
    return _stream_parquet(clickhouse, query.sql, query)


def write_export(
    clickhouse: ClickHouse,
    query: ExportQuery,
    request: ExportRequest,
    writer_factory: Callable[[], ObjectWriter],
    progress: Progress,
    cancel: threading.Event,
) -> int:
    """Write the export file through a new writer and return its size in bytes.

    Runs in a worker thread. On any failure, cancellation included, the writer
    is aborted before the error propagates, so storage keeps no partial object.
    """
    writer = writer_factory()
    try:
        for chunk, records in export_chunks(clickhouse, query, request):
            if cancel.is_set():
                raise ExportCancelled("the worker is stopping")
            writer.write(chunk)
            progress.rows += records
        return writer.commit()
    except BaseException:
        with contextlib.suppress(Exception):
            writer.abort()
        raise
