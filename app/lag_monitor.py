"""Periodic consumer lag measurement for ``/metrics``, readiness and compare responses.

The monitor measures the lag of this service's consumer groups every
``LAG_REFRESH_SECONDS`` and keeps the last result. ``/api/v1/ops/lag`` and the
``lag`` command measure afresh instead.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from dataclasses import dataclass
from typing import Any

from aiokafka.errors import KafkaError

from app.lag import LagReader, PartitionLag
from app.settings import Settings
from streams.ingest import ingest_group

logger = logging.getLogger(__name__)

MEASURE_TIMEOUT_SECONDS = 10.0
# A measurement older than this many refresh intervals is not "current" any
# more: compare responses then report the lag as unknown.
STALE_AFTER_REFRESHES = 3


def monitored_group_topics(settings: Settings) -> list[tuple[str, str]]:
    """Return the ``(group, topic)`` pairs whose lag operators watch.

    The event ingestor has its own group; the Faust agents (campaign updates
    and export requests) share the app's group, named by ``CONSUMER_GROUP``.
    """
    return [
        (ingest_group(settings), settings.topic_events),
        (settings.consumer_group, settings.topic_campaign_updates),
        (settings.consumer_group, settings.topic_export_requests),
    ]


def iso_time(seconds: float) -> str:
    moment = dt.datetime.fromtimestamp(seconds, tz=dt.timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class LagSnapshot:
    measured_at: float
    """Unix time of the measurement."""
    partitions: tuple[PartitionLag, ...]

    def total(self, topic: str | None = None) -> int:
        return sum(p.lag for p in self.partitions if topic is None or p.topic == topic)

    def oldest_age_seconds(self, topic: str | None = None) -> float | None:
        ages = [p.oldest_age_seconds(self.measured_at) for p in self.partitions if topic is None or p.topic == topic]
        known = [age for age in ages if age is not None]
        return max(known) if known else None

    def as_dict(self) -> dict[str, Any]:
        """Return the JSON form shared by ``/api/v1/ops/lag`` and ``campaign-analytics lag --json``.

        Ages are as of the measurement, like the offsets.
        """
        return {
            "measured_at": iso_time(self.measured_at),
            "total_lag": self.total(),
            "partitions": [
                {
                    "group": p.group,
                    "topic": p.topic,
                    "partition": p.partition,
                    "committed": p.committed,
                    "end": p.end,
                    "lag": p.lag,
                    "oldest_age_seconds": _rounded(p.oldest_age_seconds(self.measured_at)),
                }
                for p in self.partitions
            ],
        }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


class LagMonitor:
    """Measures lag in the background and keeps the last snapshot."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.group_topics = monitored_group_topics(settings)
        self.snapshot: LagSnapshot | None = None
        self._reader: LagReader | None = None
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._failing = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._refresh_forever(), name="lag-monitor")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        async with self._lock:
            await self._close_reader()

    async def measure(self, timeout: float = MEASURE_TIMEOUT_SECONDS) -> LagSnapshot:
        """Measure now, keep the result as the current snapshot and return it.

        Raises ``asyncio.TimeoutError`` or ``KafkaError`` when the broker does
        not respond within ``timeout`` seconds.
        """
        async with self._lock:
            try:
                async with asyncio.timeout(timeout):
                    if self._reader is None:
                        reader = LagReader(self.settings.bootstrap_servers)
                        await reader.start()
                        self._reader = reader
                    partitions = await self._reader.read(self.group_topics)
            except (KafkaError, OSError, TimeoutError):
                # A reader that failed may hold half-open connections; the next
                # measurement starts a new one.
                await self._close_reader()
                raise
        self.snapshot = LagSnapshot(time.time(), tuple(partitions))
        return self.snapshot

    def freshness(self) -> dict[str, Any] | None:
        """Return the current lag of the events topic for compare responses, or None when unknown."""
        snapshot = self.snapshot
        max_age = STALE_AFTER_REFRESHES * self.settings.lag_refresh_seconds
        if snapshot is None or time.time() - snapshot.measured_at > max_age:
            return None
        topic = self.settings.topic_events
        return {
            "topic": topic,
            "messages": snapshot.total(topic),
            "oldest_age_seconds": _rounded(snapshot.oldest_age_seconds(topic)),
            "measured_at": iso_time(snapshot.measured_at),
        }

    async def _refresh_forever(self) -> None:
        while True:
            try:
                await self.measure()
                if self._failing:
                    logger.info("consumer lag measured again: servers=%s", self.settings.bootstrap_servers)
                    self._failing = False
            except (KafkaError, OSError, TimeoutError) as exc:
                # Logged when measuring starts failing, not on every attempt.
                if not self._failing:
                    logger.warning(
                        "consumer lag cannot be measured: servers=%s error=%r", self.settings.bootstrap_servers, exc
                    )
                    self._failing = True
            await asyncio.sleep(self.settings.lag_refresh_seconds)

    async def _close_reader(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            try:
                await asyncio.wait_for(reader.close(), timeout=MEASURE_TIMEOUT_SECONDS)
            except (KafkaError, OSError, TimeoutError) as exc:
                logger.warning("closing the lag reader failed: %r", exc)
