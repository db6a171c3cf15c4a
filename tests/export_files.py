"""Reading export files back, for the export tests: every format becomes a list of row dictionaries."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pyarrow.parquet as parquet

UTF8_BOM = b"\xef\xbb\xbf"


def read_rows(data: bytes, export_format: str) -> list[dict[str, Any]]:
    """Parse an export file; CSV cells stay text, the other formats keep their types."""
    if export_format == "csv":
        text = data.removeprefix(UTF8_BOM).decode("utf-8")
        return list(csv.DictReader(io.StringIO(text, newline="")))
    if export_format == "json":
        rows = json.loads(data)
        assert isinstance(rows, list), "a JSON export must be one array"
        return rows
    if export_format == "ndjson":
        return [json.loads(line) for line in data.decode("utf-8").splitlines()]
    if export_format == "parquet":
        return parquet.read_table(io.BytesIO(data)).to_pylist()
    raise AssertionError(f"unknown format {export_format}")


def as_int(value: Any) -> int:
    """Return a count read from any format (CSV cells are text)."""
    return int(value)


def as_rate(value: Any) -> float | None:
    """Return a rate read from any format; an empty CSV cell is null."""
    if value is None or value == "":
        return None
    return float(value)
