"""A one-million-row events export keeps the process's memory flat."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

pytestmark = pytest.mark.integration

ROWS = 1_000_000
MAX_GROWTH_BYTES = 150 * 1024 * 1024
REPOSITORY = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("export_format", ["csv", "parquet"])
def test_million_row_export_memory(tmp_path: Path, export_format: str) -> None:
    if not Path("/proc/self/clear_refs").exists():
        pytest.skip("needs Linux /proc to measure peak memory")
    # A fresh process, so the peak belongs to this export alone.
    completed = subprocess.run(
        [sys.executable, "-m", "tests.integration.export_memory_probe", str(tmp_path), str(ROWS), export_format],
        cwd=REPOSITORY, capture_output=True, timeout=300, check=False,
    )
    assert completed.returncode == 0, completed.stderr.decode()[-4000:]
    result = orjson.loads(completed.stdout.splitlines()[-1])
    print(f"{export_format}: {result}")

    assert result["rows"] == ROWS
    # The file is far larger than the allowed growth, so it cannot have been held in memory.
    if export_format == "csv":
        assert result["bytes"] > MAX_GROWTH_BYTES
    assert result["rss_peak"] - result["rss_before"] < MAX_GROWTH_BYTES
