"""Lag arithmetic, the lag command's table and thresholds, and the JSON form."""

from __future__ import annotations

from app.lag import PartitionLag
from app.lag_command import EXIT_LAGGING, format_table, threshold_violations
from app.lag_monitor import LagSnapshot

NOW = 1_800_000_000.0
GROUP = "campaign-analytics-ingest"


def partition(number: int, committed: int | None, end: int, beginning: int = 0, oldest_ms: int | None = None) -> PartitionLag:
    return PartitionLag("email-events", number, committed, end, GROUP, beginning, oldest_ms)


def test_lag_after_commit():
    assert partition(0, committed=40, end=100).lag == 60


def test_lag_without_commit_counts_from_beginning():
    assert partition(0, committed=None, end=100, beginning=30).lag == 70


def test_lag_commit_below_beginning():
    # Retention deleted messages the group never read: they cannot be processed any more.
    assert partition(0, committed=10, end=100, beginning=30).lag == 70


def test_lag_never_negative():
    # A broker may report an end offset below a commit, as Tansu 0.6 does for batches.
    assert partition(0, committed=120, end=100).lag == 0


def test_oldest_age():
    lag = partition(0, committed=0, end=5, oldest_ms=int((NOW - 90) * 1000))

    assert lag.oldest_age_seconds(NOW) == 90.0


def test_oldest_age_none_without_lag():
    lag = partition(0, committed=5, end=5, oldest_ms=int((NOW - 90) * 1000))

    assert lag.oldest_age_seconds(NOW) is None


def snapshot() -> LagSnapshot:
    return LagSnapshot(NOW, (
        partition(0, committed=None, end=12, oldest_ms=int((NOW - 30) * 1000)),
        partition(1, committed=7, end=7),
        partition(2, committed=3, end=8, oldest_ms=int((NOW - 600) * 1000)),
    ))


def test_threshold_lag_exceeded():
    problems = threshold_violations(snapshot(), max_lag=10, max_age=None)

    assert len(problems) == 1
    assert "partition=0 lag=12 > 10" in problems[0]


def test_threshold_lag_at_limit():
    # The bound is inclusive: a lag equal to --max-lag passes.
    assert threshold_violations(snapshot(), max_lag=12, max_age=None) == []


def test_threshold_age_exceeded():
    problems = threshold_violations(snapshot(), max_lag=None, max_age=300)

    assert len(problems) == 1
    assert "partition=2 oldest_age=600.0s > 300s" in problems[0]


def test_threshold_none_disables():
    assert threshold_violations(snapshot(), max_lag=None, max_age=None) == []


def test_exit_status_past_threshold():
    # 1 is taken by errors (Kafka unreachable) and 2 by invalid settings or arguments.
    assert EXIT_LAGGING not in (0, 1, 2)


def test_table_rows():
    lines = format_table(snapshot()).splitlines()

    assert lines[0].split() == ["GROUP", "TOPIC", "PARTITION", "COMMITTED", "END", "LAG", "OLDEST_AGE_S"]
    assert lines[1].split() == [GROUP, "email-events", "0", "-", "12", "12", "30.0"]
    assert lines[2].split() == [GROUP, "email-events", "1", "7", "7", "0", "-"]
    assert lines[3].split() == [GROUP, "email-events", "2", "3", "8", "5", "600.0"]
    assert lines[4] == "total lag: 17 messages"


def test_table_without_topics():
    assert "no partitions" in format_table(LagSnapshot(NOW, ()))


def test_snapshot_json():
    data = snapshot().as_dict()

    assert data["total_lag"] == 17
    # Ages are as of the measurement: the oldest message of partition 0 is 30 s older than it.
    assert data["partitions"][0] == {
        "group": GROUP, "topic": "email-events", "partition": 0, "committed": None, "end": 12, "lag": 12,
        "oldest_age_seconds": 30.0,
    }
    assert data["partitions"][1]["oldest_age_seconds"] is None
    assert data["measured_at"] == "2027-01-15T08:00:00.000Z"
