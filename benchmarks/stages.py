"""Per-stage cost of the ingestion path, each stage timed on its own.

The stages are the ones ``EventIngestor`` runs for every batch, called here
directly on the same message values, without Kafka and without the event
loop: ``decode_message`` per message, ``build_columns`` and the ClickHouse
insert per batch of ``batch_max_events`` events. Together with the measured
runs they show where ingestion spends its time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from app.clickhouse import ClickHouse
from app.settings import Settings
from streams.adapters import MetadataKeys, decode_message
from streams.events import EmailEvent
from streams.ingest import RAW_EVENTS_TABLE, classifier_from_settings
from streams.rows import COLUMN_NAMES, build_columns


@dataclass(frozen=True, slots=True)
class StageTime:
    stage: str
    events: int
    seconds: float

    @property
    def microseconds_per_event(self) -> float:
        return self.seconds / self.events * 1e6

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds


def _timed(function: Callable[[], object]) -> float:
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def decode_all(values: list[bytes], keys: MetadataKeys) -> list[EmailEvent]:
    events: list[EmailEvent] = []
    for value in values:
        events.extend(decode_message(value, keys))
    return events


def time_stages(
    settings: Settings,
    clickhouse: ClickHouse,
    single_values: list[bytes],
    batched_values: list[bytes],
    events_per_batched_message: int,
) -> list[StageTime]:
    """Time each ingestion stage on the given values and return one StageTime per stage.

    The insert stage writes every event into the raw table (its materialized
    views run too), so the caller empties the tables afterwards.
    """
    keys = MetadataKeys(settings.metadata_campaign_key, settings.metadata_workspace_key)
    classifier = classifier_from_settings(settings)
    size = settings.batch_max_events

    events: list[EmailEvent] = []
    decode_single = _timed(lambda: events.extend(decode_all(single_values, keys)))
    decode_batched = _timed(lambda: decode_all(batched_values, keys))

    batches: list[list[list[object]]] = []
    build = _timed(lambda: batches.extend(
        build_columns(events[start:start + size], classifier) for start in range(0, len(events), size)
    ))

    def insert_all() -> None:
        for columns in batches:
            clickhouse.insert_columns(RAW_EVENTS_TABLE, columns, COLUMN_NAMES)

    insert = _timed(insert_all)

    count = len(events)
    return [
        StageTime("decode_message, one event per message", count, decode_single),
        StageTime(f"decode_message, {events_per_batched_message} events per message", count, decode_batched),
        StageTime(f"build_columns, {size} events per call", count, build),
        StageTime(f"ClickHouse insert with materialized views, {size} events per insert", count, insert),
    ]
