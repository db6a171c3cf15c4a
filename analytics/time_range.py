"""Time ranges accepted by the API: ``"7d"``-style durations, ``"all"``, or ``{start, end}``.

A range selects messages by their send time (the time of a message's first
event). The end is exclusive. A duration ending "now" is measured back from
the time of the request.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from app.errors import CampaignAnalyticsError

_DURATION = re.compile(r"^\s*(\d{1,6})\s*([hdw])\s*$", re.IGNORECASE | re.ASCII)
_UNIT_HOURS = {"h": 1, "d": 24, "w": 24 * 7}
ACCEPTED_FORMS = (
    'a duration such as "24h", "7d", "30d", "90d" or "4w" (a number followed by h, d or w), '
    '"all", or an object {"start": ISO-8601, "end": ISO-8601}'
)
# The earliest and latest times a DateTime64(3) column holds; "all" spans them.
MIN_TIME = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
MAX_TIME = dt.datetime(2262, 1, 1, tzinfo=dt.timezone.utc)


class InvalidTimeRange(CampaignAnalyticsError):
    """A time range that cannot be read or whose start is not before its end."""


@dataclass(frozen=True, slots=True)
class TimeRange:
    start: dt.datetime
    end: dt.datetime
    label: str

    @property
    def start_ms(self) -> int:
        return _to_millis(self.start)

    @property
    def end_ms(self) -> int:
        return _to_millis(self.end)

    def as_dict(self) -> dict[str, str | None]:
        unbounded = self.label == "all"
        return {
            "label": self.label,
            "start": None if unbounded else _iso(self.start),
            "end": None if unbounded else _iso(self.end),
        }


def _to_millis(value: dt.datetime) -> int:
    return int((value - MIN_TIME) / dt.timedelta(milliseconds=1))


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _parse_instant(value: Any, field: str) -> dt.datetime:
    if not isinstance(value, str) or not value.strip():
        raise InvalidTimeRange(f"time_range.{field} must be an ISO 8601 date or time; accepted: {ACCEPTED_FORMS}")
    try:
        parsed = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidTimeRange(f"time_range.{field} is not an ISO 8601 date or time: {value!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.timezone.utc)
    if not MIN_TIME <= parsed <= MAX_TIME:
        raise InvalidTimeRange(f"time_range.{field} is outside the supported years 1970-2261: {value!r}")
    return parsed


def parse_time_range(value: Any, now: dt.datetime | None = None) -> TimeRange:
    """Read a request's ``time_range``; a missing one means ``"all"``."""
    now = now or dt.datetime.now(dt.timezone.utc)
    if value is None or (isinstance(value, str) and value.strip().lower() == "all"):
        return TimeRange(MIN_TIME, MAX_TIME, "all")

    if isinstance(value, str):
        match = _DURATION.match(value)
        if not match or int(match.group(1)) == 0:
            raise InvalidTimeRange(f"time_range {value!r} is not a valid range; accepted: {ACCEPTED_FORMS}")
        hours = int(match.group(1)) * _UNIT_HOURS[match.group(2).lower()]
        # A duration longer than the time since 1970 starts at 1970; clamping the
        # hours first keeps timedelta from overflowing on absurd values.
        hours_since_epoch = int((now - MIN_TIME) / dt.timedelta(hours=1)) + 1
        start = max(now - dt.timedelta(hours=min(hours, hours_since_epoch)), MIN_TIME)
        return TimeRange(start, now, f"{int(match.group(1))}{match.group(2).lower()}")

    if isinstance(value, dict):
        unknown = set(value) - {"start", "end"}
        if unknown:
            raise InvalidTimeRange(f"time_range has unknown fields {sorted(unknown)}; accepted: {ACCEPTED_FORMS}")
        start = _parse_instant(value.get("start"), "start")
        end = _parse_instant(value.get("end"), "end")
        if start >= end:
            raise InvalidTimeRange("Start date must be before end date")
        return TimeRange(start, end, "custom")

    raise InvalidTimeRange(f"time_range must be a string or an object; accepted: {ACCEPTED_FORMS}")
