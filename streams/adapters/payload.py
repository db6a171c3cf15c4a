"""Reading provider payloads: shape checks, required fields and error context.

Every adapter reports a malformed payload through these helpers, so that each
InvalidEvent message starts with the provider (and the batch element) and names
the provider's own field.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from streams.events import EmailEvent, InvalidEvent, parse_timestamp

_JSON_TYPE_NAMES: dict[type, str] = {
    dict: "object",
    list: "array",
    str: "string",
    bool: "boolean",
    int: "number",
    float: "number",
    type(None): "null",
}


def json_type(value: Any) -> str:
    """Return the JSON name of a decoded value's type, for error messages."""
    return _JSON_TYPE_NAMES.get(type(value), type(value).__name__)


def require_object(value: Any, label: str) -> dict[str, Any]:
    """Return ``value`` if it is a JSON object, else raise InvalidEvent("invalid_payload")."""
    if not isinstance(value, dict):
        raise InvalidEvent("invalid_payload", f"{label} must be a JSON object, got {json_type(value)}")
    return value


def require_array(value: Any, label: str) -> list[Any]:
    """Return ``value`` if it is a JSON array, else raise InvalidEvent("invalid_payload")."""
    if not isinstance(value, list):
        raise InvalidEvent("invalid_payload", f"{label} must be a JSON array, got {json_type(value)}")
    return value


def require_value(value: Any, field: str) -> Any:
    """Return ``value`` unless it is absent or empty, which raises InvalidEvent("missing_field")."""
    if value is None or value == "":
        raise InvalidEvent("missing_field", f"required field {field!r} is missing")
    return value


def require_text(data: Mapping[str, Any], field: str) -> str:
    """Return the string at ``data[field]``; absent is ``missing_field``, another type ``invalid_field``."""
    value = require_value(data.get(field), field)
    if not isinstance(value, str):
        raise InvalidEvent("invalid_field", f"{field} must be a string, got {json_type(value)}")
    return value


def require_time(data: Mapping[str, Any], field: str) -> Any:
    """Return the time at ``data[field]`` unchanged, after checking that it parses.

    Checking here makes a bad time fail with the provider's field name instead of
    ``occurred_at``. The caller passes the value on as ``occurred_at``.
    """
    value = require_value(data.get(field), field)
    parse_timestamp(value, field)
    return value


def nested(data: Mapping[str, Any], *path: str) -> Any:
    """Return the value at ``path`` inside nested objects, or None where a step is missing."""
    value: Any = data
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


@contextmanager
def error_context(prefix: str) -> Iterator[None]:
    """Prefix the message of any InvalidEvent raised inside the block, keeping its reason."""
    try:
        yield
    except InvalidEvent as exc:
        raise InvalidEvent(exc.reason, f"{prefix}: {exc.message}") from exc


def parse_each(
    items: list[Any],
    parse_item: Callable[[Any], EmailEvent | None],
    label: str,
) -> list[EmailEvent]:
    """Parse every element of a batch and return the events of those not skipped.

    All or nothing: the first invalid element raises, with its index in the message,
    and the batch returns no event. So each message has one outcome: all its events
    are stored, or the dead-letter topic keeps its original bytes whole, to be
    corrected and replayed. Storing the valid elements first would not double-count
    on replay, because counting identifies events by content, but until the replay
    the numbers would silently include only part of the message.
    """
    events: list[EmailEvent] = []
    index = 0
    # One try around the loop, not one per element: the prefix with the index is
    # only built for the element that failed, which keeps large batches cheap.
    try:
        for index, item in enumerate(items):
            event = parse_item(item)
            if event is not None:
                events.append(event)
    except InvalidEvent as exc:
        raise InvalidEvent(exc.reason, f"{label} {index}: {exc.message}") from exc
    return events
