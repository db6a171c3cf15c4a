"""Builders of canonical events for the integration tests."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

_event_ids = itertools.count(1)
BASE = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.timezone.utc)


def at(minutes: float = 0, days: float = 0) -> str:
    """ISO time ``days`` days and ``minutes`` minutes after BASE."""
    return (BASE + dt.timedelta(days=days, minutes=minutes)).isoformat()


def event(workspace_id: str, campaign_id: str, message_id: str, type_: str, occurred_at: str, **fields: Any) -> dict[str, Any]:
    return {
        "event_id": f"evt-{next(_event_ids)}",
        "type": type_,
        "occurred_at": occurred_at,
        "workspace_id": workspace_id,
        "campaign_id": campaign_id,
        "message_id": message_id,
        **fields,
    }


def summary_of(data: dict[str, Any], campaign_id: str) -> dict[str, int]:
    for entry in data["comparison"]:
        if entry["campaign_id"] == campaign_id:
            return entry["summary"]
    raise AssertionError(f"{campaign_id} is not in the comparison")


def metrics_of(data: dict[str, Any], campaign_id: str) -> dict[str, float | None]:
    for entry in data["comparison"]:
        if entry["campaign_id"] == campaign_id:
            return entry["metrics"]
    raise AssertionError(f"{campaign_id} is not in the comparison")
