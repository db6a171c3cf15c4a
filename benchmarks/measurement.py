"""The record of one measured consumer run, and the rule for its rate.

Every run's clock starts when its first records reach the process (the first
non-empty fetch, or the first event handed to a Faust agent) and stops when its
last event is done. Group joins and topic metadata requests come before the
first fetch, so they are outside the measured span.
"""

from __future__ import annotations

from dataclasses import dataclass

# A run slower than this has lost events or hung. The slowest consumer measured
# here, the per-event Faust agent, ran at 10,000 to 12,000 events/s on a 2-core AMD EPYC.
MIN_EVENTS_PER_SECOND = 1_000
RUN_TIMEOUT_BASE_SECONDS = 60.0


def run_timeout_seconds(events: int) -> float:
    """Return how long a run over ``events`` events may take before it counts as failed."""
    return RUN_TIMEOUT_BASE_SECONDS + events / MIN_EVENTS_PER_SECOND


class BenchmarkError(Exception):
    """A measured run failed, timed out, or left data that does not match what was produced."""


@dataclass(frozen=True, slots=True)
class Measurement:
    """One consumer run over one topic."""

    name: str
    shape: str
    events: int
    messages: int
    seconds: float
    peak_rss_mib: float

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else float("inf")
