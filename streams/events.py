"""The canonical email event and its validation.

Every message on ``email-events`` becomes zero or more :class:`EmailEvent`
values: canonical JSON directly, provider payloads through an adapter in
``streams.adapters`` that maps the provider's fields onto the canonical names
and then calls :func:`parse_canonical`. Anything that cannot become a valid
event raises :class:`InvalidEvent`, whose ``reason`` is the code stored with
the message in the dead-letter topic.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Any, Literal, NamedTuple, get_args

from app.errors import CampaignAnalyticsError

EventType = Literal[
    "sent",
    "delivered",
    "deferred",
    "bounced",
    "opened",
    "clicked",
    "replied",
    "spam_complaint",
    "unsubscribed",
]
BounceType = Literal["hard", "soft", "undetermined"]
RejectReason = Literal[
    "invalid_json",
    "null_value",
    "not_an_object",
    "unknown_provider",
    "invalid_payload",
    "missing_field",
    "invalid_field",
    "unknown_type",
    "invalid_time",
]

EVENT_TYPES: frozenset[str] = frozenset(get_args(EventType))
BOUNCE_TYPES: frozenset[str] = frozenset(get_args(BounceType))
REQUIRED_FIELDS = ("type", "occurred_at", "workspace_id", "campaign_id", "message_id")

# Times must fit ClickHouse's DateTime64(3) and the API's time ranges:
# from 1970-01-01 up to, not including, 2262-01-01 (in epoch milliseconds).
MAX_EPOCH_MILLIS = 9_214_646_400_000
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$", re.ASCII)

# Epoch values above this are read as milliseconds: 1e11 seconds is the year 5138,
# while 1e11 milliseconds is 1973, so no real send time is ambiguous.
_EPOCH_MILLIS_THRESHOLD = 100_000_000_000
MAX_ID_LENGTH = 512


class InvalidEvent(CampaignAnalyticsError):
    """A message or payload that cannot become a canonical event."""

    def __init__(self, reason: RejectReason, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class EmailEvent(NamedTuple):
    """One canonical email event. ``occurred_at_ms`` is UTC epoch milliseconds.

    A NamedTuple rather than a frozen dataclass because it is built once per
    event on the ingestion hot path, where it costs a third as much.
    """

    type: EventType
    occurred_at_ms: int
    workspace_id: str
    campaign_id: str
    message_id: str
    event_id: str = ""
    recipient: str | None = None
    bounce_type: BounceType | None = None
    url: str | None = None
    user_agent: str | None = None
    is_machine_open: bool = False
    is_bot_click: bool = False
    provider: str = ""


def parse_timestamp(value: Any, field: str = "occurred_at") -> int:
    """Convert ISO 8601 text or epoch seconds/milliseconds to UTC epoch milliseconds.

    A time without an offset is read as UTC, so the result never depends on the
    host's time zone. Sub-millisecond digits are truncated.
    """
    if isinstance(value, bool):
        raise InvalidEvent("invalid_time", f"{field} must be ISO 8601 text or epoch seconds, got a boolean")
    if isinstance(value, (int, float)):
        return _epoch_to_millis(value, field)
    if isinstance(value, str):
        text = value.strip()
        if _NUMBER.match(text):
            return _epoch_to_millis(float(text), field)
        try:
            parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise InvalidEvent("invalid_time", f"{field} is not an ISO 8601 time or epoch number: {value!r}") from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=dt.timezone.utc)
        return _check_range(_datetime_to_millis(parsed), value, field)
    raise InvalidEvent("invalid_time", f"{field} must be ISO 8601 text or epoch seconds, got {type(value).__name__}")


def _epoch_to_millis(value: float, field: str) -> int:
    if not math.isfinite(value) or value < 0:
        raise InvalidEvent("invalid_time", f"{field} is not a valid epoch time: {value!r}")
    millis = int(value) if value >= _EPOCH_MILLIS_THRESHOLD else int(round(value * 1000, 3))
    return _check_range(millis, value, field)


def _check_range(millis: int, value: Any, field: str) -> int:
    if not 0 <= millis < MAX_EPOCH_MILLIS:
        raise InvalidEvent("invalid_time", f"{field} is outside the years 1970 to 2261: {value!r}")
    return millis


def _datetime_to_millis(value: dt.datetime) -> int:
    delta = value - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
    return delta.days * 86_400_000 + delta.seconds * 1000 + delta.microseconds // 1000


def _required_text(data: dict[str, Any], field: str) -> str:
    value = data.get(field)
    if value is None or value == "":
        raise InvalidEvent("missing_field", f"required field {field!r} is missing")
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise InvalidEvent("invalid_field", f"{field} must be a string or an integer, got {type(value).__name__}")
    text = str(value)
    if len(text) > MAX_ID_LENGTH:
        raise InvalidEvent("invalid_field", f"{field} is longer than {MAX_ID_LENGTH} characters")
    return text


def _optional_text(data: dict[str, Any], field: str) -> str | None:
    value = data.get(field)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidEvent("invalid_field", f"{field} must be a string, got {type(value).__name__}")
    return value


def _optional_flag(data: dict[str, Any], field: str) -> bool:
    value = data.get(field)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise InvalidEvent("invalid_field", f"{field} must be true or false, got {value!r}")
    return value


def parse_canonical(data: Any, provider: str = "") -> EmailEvent:
    """Validate one canonical event object and return it as an :class:`EmailEvent`.

    Unknown extra fields are ignored. ``provider`` is the adapter's name when
    the event came from a provider payload; a canonical event may name its own.
    """
    if not isinstance(data, dict):
        raise InvalidEvent("not_an_object", f"an event must be a JSON object, got {type(data).__name__}")

    event_type = data.get("type")
    if event_type is None or event_type == "":
        raise InvalidEvent("missing_field", "required field 'type' is missing")
    if not isinstance(event_type, str):
        raise InvalidEvent("invalid_field", f"type must be a string, got {type(event_type).__name__}")
    if event_type not in EVENT_TYPES:
        raise InvalidEvent(
            "unknown_type",
            f"unknown event type {event_type!r}; expected one of {', '.join(sorted(EVENT_TYPES))}",
        )
    if "occurred_at" not in data or data["occurred_at"] in (None, ""):
        raise InvalidEvent("missing_field", "required field 'occurred_at' is missing")

    bounce_type = _optional_text(data, "bounce_type")
    if bounce_type is not None and bounce_type not in BOUNCE_TYPES:
        raise InvalidEvent("invalid_field", f"bounce_type must be hard, soft or undetermined, got {bounce_type!r}")

    event_id = data.get("event_id")
    return EmailEvent(
        type=event_type,
        occurred_at_ms=parse_timestamp(data["occurred_at"]),
        workspace_id=_required_text(data, "workspace_id"),
        campaign_id=_required_text(data, "campaign_id"),
        message_id=_required_text(data, "message_id"),
        event_id="" if event_id is None else str(event_id),
        recipient=_optional_text(data, "recipient"),
        bounce_type=bounce_type,  # type: ignore[arg-type]
        url=_optional_text(data, "url"),
        user_agent=_optional_text(data, "user_agent"),
        is_machine_open=_optional_flag(data, "is_machine_open"),
        is_bot_click=_optional_flag(data, "is_bot_click"),
        provider=provider or (_optional_text(data, "provider") or ""),
    )
