"""Metrics that read the ingestor's totals and the lag snapshot, and the batch and export recorders."""

from __future__ import annotations

from prometheus_client import REGISTRY

from app import metrics
from app.lag import PartitionLag
from app.lag_monitor import LagMonitor, LagSnapshot
from app.settings import load_settings
from streams.ingest import DecodedBatch, IngestStats


def sample(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


def test_ingest_totals_read_at_scrape():
    stats = IngestStats(messages=12, events_inserted=30, rejected={"invalid_json": 2}, batches=3, insert_retries=1)
    metrics.STATE.add_ingestor("unit-events", stats)
    try:
        stats.messages += 5  # counted after registration, still seen at the next scrape

        assert sample("campaign_analytics_messages_consumed_total", topic="unit-events") == 17
        assert sample("campaign_analytics_events_inserted_total", topic="unit-events") == 30
        assert sample("campaign_analytics_messages_rejected_total", topic="unit-events", reason="invalid_json") == 2
        assert sample("campaign_analytics_batches_total", topic="unit-events") == 3
        assert sample("campaign_analytics_insert_retries_total", topic="unit-events") == 1
    finally:
        metrics.STATE.remove_ingestor(stats)

    assert sample("campaign_analytics_messages_consumed_total", topic="unit-events") is None


def test_rejects_outside_ingestor():
    before = sample("campaign_analytics_messages_rejected_total", topic="unit-updates", reason="missing_field") or 0

    metrics.STATE.record_rejected("unit-updates", "missing_field")

    after = sample("campaign_analytics_messages_rejected_total", topic="unit-updates", reason="missing_field")
    assert after == before + 1


def test_batch_observer():
    observe = metrics.batch_observer("unit-batch")
    batch = DecodedBatch(events=[object()] * 40, dead_letters=[(None, b"x")] * 3)  # type: ignore[list-item]
    count_before = sample("campaign_analytics_batch_size_events_count") or 0
    sum_before = sample("campaign_analytics_batch_size_events_sum") or 0

    observe(batch, 0.25)

    assert sample("campaign_analytics_batch_size_events_count") == count_before + 1
    assert sample("campaign_analytics_batch_size_events_sum") == sum_before + 40
    assert sample("campaign_analytics_dead_letters_total", source_topic="unit-batch") == 3


def test_lag_gauges_from_snapshot():
    monitor = LagMonitor(load_settings(kafka_bootstrap_servers="127.0.0.1:1"))
    monitor.snapshot = LagSnapshot(1_800_000_000.0, (
        PartitionLag("unit-lag", 0, None, 9, "g"),
        PartitionLag("unit-lag", 1, 4, 10, "g"),
    ))
    metrics.STATE.add_lag_monitor(monitor)
    try:
        assert sample("campaign_analytics_consumer_lag", group="g", topic="unit-lag", partition="0") == 9
        assert sample("campaign_analytics_consumer_lag", group="g", topic="unit-lag", partition="1") == 6
        assert sample("campaign_analytics_consumer_has_commit", group="g", topic="unit-lag", partition="0") == 0
        assert sample("campaign_analytics_consumer_committed_offset", group="g", topic="unit-lag", partition="0") is None
        assert sample("campaign_analytics_consumer_committed_offset", group="g", topic="unit-lag", partition="1") == 4
        assert sample("campaign_analytics_partition_end_offset", group="g", topic="unit-lag", partition="1") == 10
        assert sample("campaign_analytics_lag_measured_timestamp_seconds") == 1_800_000_000.0
    finally:
        metrics.STATE.remove_lag_monitor(monitor)


def test_export_job_recorder():
    before = sample("campaign_analytics_export_jobs_total", status="completed", format="csv") or 0

    metrics.record_export_job("completed", "csv", duration_seconds=12.5)

    assert sample("campaign_analytics_export_jobs_total", status="completed", format="csv") == before + 1
    assert sample("campaign_analytics_export_duration_seconds_count", status="completed", format="csv") >= 1
