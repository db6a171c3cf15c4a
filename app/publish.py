"""Publishing NDJSON files of events to Kafka: the ``replay`` command and the demo loader."""

from __future__ import annotations

import gzip
import logging
from collections.abc import Iterator
from pathlib import Path

import orjson
from aiokafka import AIOKafkaProducer

from streams.adapters import MetadataKeys, decode_message
from streams.events import InvalidEvent

logger = logging.getLogger(__name__)

SEND_WINDOW = 5000


def read_lines(path: Path) -> Iterator[bytes]:
    """Yield the non-blank lines of a plain or gzip-compressed NDJSON file."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        for line in handle:
            line = line.strip()
            if line:
                yield line


def message_key(value: bytes) -> bytes | None:
    """Return the Kafka key of an event message: the ``message_id`` of its first event.

    Lines that do not decode get no key, so the broker spreads them over
    partitions; counting does not depend on which partition an event uses.
    """
    try:
        events = decode_message(value, MetadataKeys())
    except InvalidEvent:
        return None
    return events[0].message_id.encode() if events else None


def _field_key(value: bytes, field: str) -> bytes | None:
    """Return the Kafka key taken from a top-level field, or None when the line has none."""
    try:
        data = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(data, dict) or data.get(field) in (None, ""):
        return None
    return str(data[field]).encode()


async def publish_lines(producer: AIOKafkaProducer, topic: str, lines: Iterator[bytes], key_field: str | None = None) -> int:
    """Send every line to ``topic`` and wait until the broker has all of them; return the count."""
    pending = []
    count = 0
    for line in lines:
        key = message_key(line) if key_field is None else _field_key(line, key_field)
        pending.append(await producer.send(topic, key=key, value=line))
        count += 1
        if len(pending) >= SEND_WINDOW:
            for future in pending:
                await future
            pending.clear()
    for future in pending:
        await future
    return count
