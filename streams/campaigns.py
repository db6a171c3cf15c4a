"""Campaign records from ``campaign-updates``: validation and the ClickHouse rows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from streams.events import InvalidEvent, parse_timestamp

CAMPAIGN_COLUMNS = ("workspace_id", "campaign_id", "name", "status", "created_at", "updated_at")


@dataclass(frozen=True, slots=True)
class CampaignUpdate:
    workspace_id: str
    campaign_id: str
    name: str
    status: str
    created_at_ms: int
    updated_at_ms: int

    def row(self) -> tuple[Any, ...]:
        return (self.workspace_id, self.campaign_id, self.name, self.status, self.created_at_ms, self.updated_at_ms)


def parse_campaign_update(value: bytes | None) -> CampaignUpdate:
    """Validate one ``campaign-updates`` message value.

    The newest ``updated_at`` wins when the same campaign arrives twice.
    """
    if not value:
        raise InvalidEvent("null_value", "campaign update has no value")
    try:
        data = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise InvalidEvent("invalid_json", f"campaign update is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidEvent("not_an_object", "campaign update must be a JSON object")

    for field in ("workspace_id", "campaign_id", "name"):
        if data.get(field) in (None, ""):
            raise InvalidEvent("missing_field", f"campaign update needs a non-empty string {field!r}")
        if not isinstance(data[field], str):
            raise InvalidEvent("invalid_field", f"campaign update {field} must be a string")
    status = data.get("status")
    if status is None:
        status = ""
    elif not isinstance(status, str):
        raise InvalidEvent("invalid_field", "campaign update status must be a string")

    updated_at = parse_timestamp(data.get("updated_at"), "updated_at") if data.get("updated_at") else 0
    created_at = parse_timestamp(data.get("created_at"), "created_at") if data.get("created_at") else updated_at
    return CampaignUpdate(data["workspace_id"], data["campaign_id"], data["name"], status, created_at, updated_at)
