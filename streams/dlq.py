"""Dead-letter records for messages that could not become events."""

from __future__ import annotations

import base64
import datetime as dt

import orjson

from streams.events import InvalidEvent


def dead_letter_value(
    value: bytes | None, error: InvalidEvent, topic: str, partition: int, offset: int
) -> bytes:
    """Build the JSON value stored on the dead-letter topic for one rejected message.

    The original bytes travel base64-encoded, so a message that is not even
    text survives intact and can be fixed and replayed.
    """
    record = {
        "value_base64": None if value is None else base64.b64encode(value).decode("ascii"),
        "reason": error.reason,
        "message": error.message,
        "source": {"topic": topic, "partition": partition, "offset": offset},
        "rejected_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    }
    return orjson.dumps(record)
