"""Prometheus metrics of every process role, all in prometheus-client's default registry.

Running totals that the ingestor already keeps (``EventIngestor.stats``) and
the consumer lag that ``LagMonitor`` measures are read at scrape time by one
collector, so nothing on the hot path counts twice. Latencies and sizes are
histograms observed once per batch or request, never per event.

Exports record their jobs with :func:`record_export_job`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Literal

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from app.lag_monitor import LagMonitor
    from streams.ingest import DecodedBatch, IngestStats

__all__ = ["CONTENT_TYPE_LATEST", "record_export_job", "render"]

BATCH_SIZE = Histogram(
    "campaign_analytics_batch_size_events",
    "Events in one ClickHouse insert batch",
    buckets=(1, 10, 50, 100, 500, 1_000, 2_500, 5_000, 10_000, 20_000, 50_000),
)
INSERT_DURATION = Histogram(
    "campaign_analytics_insert_duration_seconds",
    "Seconds to build the columns of one batch and insert them into ClickHouse, retries included",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
DEAD_LETTERS = Counter(
    "campaign_analytics_dead_letters",
    "Messages published to the dead-letter topic, by the topic they were read from",
    ["source_topic"],
)

EXPORT_JOBS = Counter(
    "campaign_analytics_export_jobs",
    "Export jobs by status: processing when a job is accepted, then completed or failed when it ends",
    ["status", "format"],
)
EXPORT_DURATION = Histogram(
    "campaign_analytics_export_duration_seconds",
    "Seconds from the start of an export job to its completion or failure",
    ["status", "format"],
    buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600),
)

HTTP_REQUESTS = Counter(
    "campaign_analytics_http_requests",
    "HTTP requests answered, by route template and status code",
    ["method", "route", "status"],
)
HTTP_DURATION = Histogram(
    "campaign_analytics_http_request_duration_seconds",
    "Seconds from receiving an HTTP request to the end of its response, by route template",
    ["method", "route"],
)

ExportStatus = Literal["processing", "completed", "failed"]


def record_export_job(status: ExportStatus, export_format: str, duration_seconds: float | None = None) -> None:
    """Count an export job entering ``status``; give the run time when it ends (completed or failed)."""
    EXPORT_JOBS.labels(status, export_format).inc()
    if duration_seconds is not None:
        EXPORT_DURATION.labels(status, export_format).observe(duration_seconds)


def batch_observer(topic: str) -> Callable[[DecodedBatch, float], None]:
    """Return an ``EventIngestor`` ``on_batch`` callback that records a finished batch."""
    dead_letters = DEAD_LETTERS.labels(topic)

    def observe(batch: DecodedBatch, insert_seconds: float) -> None:
        if batch.events:
            BATCH_SIZE.observe(len(batch.events))
            INSERT_DURATION.observe(insert_seconds)
        if batch.dead_letters:
            dead_letters.inc(len(batch.dead_letters))

    return observe


class StateCollector(Collector):
    """Reads ingestion totals and consumer lag from the live objects at each scrape."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ingest_stats: list[tuple[str, IngestStats]] = []
        self._lag_monitors: list[LagMonitor] = []
        self._other_rejects: dict[tuple[str, str], int] = {}

    def add_ingestor(self, topic: str, stats: IngestStats) -> None:
        with self._lock:
            self._ingest_stats.append((topic, stats))

    def remove_ingestor(self, stats: IngestStats) -> None:
        with self._lock:
            self._ingest_stats = [(topic, s) for topic, s in self._ingest_stats if s is not stats]

    def add_lag_monitor(self, monitor: LagMonitor) -> None:
        with self._lock:
            self._lag_monitors.append(monitor)

    def remove_lag_monitor(self, monitor: LagMonitor) -> None:
        with self._lock:
            self._lag_monitors = [m for m in self._lag_monitors if m is not monitor]

    def record_rejected(self, topic: str, reason: str) -> None:
        """Count a message rejected outside the event ingestor, such as a bad campaign update."""
        with self._lock:
            self._other_rejects[topic, reason] = self._other_rejects.get((topic, reason), 0) + 1

    def describe(self) -> Iterator[Metric]:
        # Describing the families without samples lets the registry check names
        # once, without calling collect() on objects that may not exist yet.
        yield from self._ingest_families()
        yield from self._lag_families()

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            ingest_stats = list(self._ingest_stats)
            monitors = list(self._lag_monitors)
            other_rejects = dict(self._other_rejects)

        consumed, inserted, rejected, batches, retries = self._ingest_families()
        for topic, stats in ingest_stats:
            consumed.add_metric([topic], stats.messages)
            inserted.add_metric([topic], stats.events_inserted)
            batches.add_metric([topic], stats.batches)
            retries.add_metric([topic], stats.insert_retries)
            for reason, count in sorted(stats.rejected.items()):
                rejected.add_metric([topic, reason], count)
        for (topic, reason), count in sorted(other_rejects.items()):
            rejected.add_metric([topic, reason], count)
        yield from (consumed, inserted, rejected, batches, retries)

        lag, committed, end, has_commit, oldest_age, measured = self._lag_families()
        now = time.time()
        for monitor in monitors:
            snapshot = monitor.snapshot
            if snapshot is None:
                continue
            measured.add_metric([], snapshot.measured_at)
            for p in snapshot.partitions:
                labels = [p.group, p.topic, str(p.partition)]
                lag.add_metric(labels, p.lag)
                end.add_metric(labels, p.end)
                has_commit.add_metric(labels, 0 if p.committed is None else 1)
                if p.committed is not None:
                    committed.add_metric(labels, p.committed)
                age = p.oldest_age_seconds(now)
                if age is not None:
                    oldest_age.add_metric(labels, age)
        yield from (lag, committed, end, has_commit, oldest_age, measured)

    @staticmethod
    def _ingest_families() -> tuple[CounterMetricFamily, ...]:
        return (
            CounterMetricFamily(
                "campaign_analytics_messages_consumed",
                "Kafka messages consumed and committed; one message may carry many events",
                labels=["topic"],
            ),
            CounterMetricFamily(
                "campaign_analytics_events_inserted", "Events inserted into ClickHouse", labels=["topic"]
            ),
            CounterMetricFamily(
                "campaign_analytics_messages_rejected",
                "Messages that could not become events, by reason code",
                labels=["topic", "reason"],
            ),
            CounterMetricFamily("campaign_analytics_batches", "Insert batches finished", labels=["topic"]),
            CounterMetricFamily(
                "campaign_analytics_insert_retries", "Failed ClickHouse inserts that were retried", labels=["topic"]
            ),
        )

    @staticmethod
    def _lag_families() -> tuple[GaugeMetricFamily, ...]:
        partition_labels = ["group", "topic", "partition"]
        return (
            GaugeMetricFamily(
                "campaign_analytics_consumer_lag",
                "Messages between the group's committed offset and the partition's end offset",
                labels=partition_labels,
            ),
            GaugeMetricFamily(
                "campaign_analytics_consumer_committed_offset",
                "The group's committed offset; absent while the group has no commit on the partition",
                labels=partition_labels,
            ),
            GaugeMetricFamily(
                "campaign_analytics_partition_end_offset", "Offset after the partition's last message",
                labels=partition_labels,
            ),
            GaugeMetricFamily(
                "campaign_analytics_consumer_has_commit",
                "1 when the group has committed an offset on the partition, else 0",
                labels=partition_labels,
            ),
            GaugeMetricFamily(
                "campaign_analytics_consumer_lag_oldest_age_seconds",
                "Age of the oldest unprocessed message, from its Kafka timestamp; absent when nothing lags",
                labels=partition_labels,
            ),
            GaugeMetricFamily(
                "campaign_analytics_lag_measured_timestamp_seconds",
                "Unix time of the last successful lag measurement",
            ),
        )


STATE = StateCollector()
REGISTRY.register(STATE)


def render() -> bytes:
    """Return every metric of this process in the Prometheus text format (``CONTENT_TYPE_LATEST``)."""
    return generate_latest(REGISTRY)
