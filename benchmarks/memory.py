"""Peak resident memory of this process during one measured step (Linux only).

chDB runs inside this process, so the figures include what ClickHouse
allocates. The peak comes from the kernel's high-water mark (``VmHWM``), reset
at the start of the step by writing ``5`` to ``/proc/self/clear_refs``. Where
that file is not writable, a thread samples ``VmRSS`` every
SAMPLE_INTERVAL_SECONDS instead, which can miss a peak shorter than that.
"""

from __future__ import annotations

import threading
from pathlib import Path
from types import TracebackType

from benchmarks.measurement import BenchmarkError

STATUS_PATH = Path("/proc/self/status")
CLEAR_REFS_PATH = Path("/proc/self/clear_refs")
# Writing "5" to clear_refs sets VmHWM back to the current RSS.
RESET_PEAK_RSS = "5"
SAMPLE_INTERVAL_SECONDS = 0.005


def _status_mib(field: str) -> float:
    """Return one ``kB`` field of /proc/self/status (``VmRSS``, ``VmHWM``) in MiB."""
    try:
        for line in STATUS_PATH.read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError) as exc:
        raise BenchmarkError(
            f"failed to read {field} from {STATUS_PATH}: {exc}. RSS growth needs Linux."
        ) from exc
    raise BenchmarkError(f"{STATUS_PATH} has no {field} line. RSS growth needs Linux.")


def current_rss_mib() -> float:
    return _status_mib("VmRSS")


def _reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS; return False where the kernel does not allow it."""
    try:
        CLEAR_REFS_PATH.write_text(RESET_PEAK_RSS)
    except OSError:
        return False
    return True


def peak_rss_method() -> str:
    """Return how :class:`PeakRss` finds the peak on this machine."""
    if _reset_peak_rss():
        return "VmHWM, reset through /proc/self/clear_refs"
    return f"VmRSS sampled every {SAMPLE_INTERVAL_SECONDS * 1000:g} ms"


class PeakRss:
    """Context manager that records RSS at entry and the peak RSS until exit, in MiB.

    ``with PeakRss() as rss: ...`` then read ``rss.growth_mib``: the peak during
    the block minus the RSS at its start.
    """

    def __init__(self) -> None:
        self.start_mib = 0.0
        self.peak_mib = 0.0
        self._stop = threading.Event()
        self._sampler: threading.Thread | None = None

    def __enter__(self) -> PeakRss:
        self.start_mib = current_rss_mib()
        self.peak_mib = self.start_mib
        if not _reset_peak_rss():
            self._sampler = threading.Thread(target=self._sample, name="benchmark-rss-sampler", daemon=True)
            self._sampler.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(SAMPLE_INTERVAL_SECONDS):
            self.peak_mib = max(self.peak_mib, current_rss_mib())

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if self._sampler is None:
            self.peak_mib = _status_mib("VmHWM")
            return
        self._stop.set()
        self._sampler.join()
        self.peak_mib = max(self.peak_mib, current_rss_mib())

    @property
    def growth_mib(self) -> float:
        return self.peak_mib - self.start_mib
