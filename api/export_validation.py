"""Validation of export request bodies; every failure names the field and the accepted values."""

from __future__ import annotations

import zoneinfo
from typing import Any

from analytics.exports import EXPORT_FORMATS, EXPORT_TYPES, GRANULARITIES, ExportRequest
from analytics.time_range import InvalidTimeRange, parse_time_range
from api.errors import ApiError, validation_error
from api.validation import check_campaign_id_items

MAX_EXPORT_CAMPAIGNS = 1000
EXPORT_FIELDS = {
    "export_type", "format", "time_range", "campaign_ids", "include_time_series", "granularity", "timezone", "excel",
}


def _choice(data: dict[str, Any], field: str, accepted: tuple[str, ...], default: str | None = None) -> str:
    value = data.get(field, default)
    if value is None:
        raise validation_error(f"{field} is required; accepted: {', '.join(accepted)}")
    if not isinstance(value, str) or value not in accepted:
        raise validation_error(f"{field} {value!r} is not supported; accepted: {', '.join(accepted)}")
    return value


def _flag(data: dict[str, Any], field: str) -> bool:
    value = data.get(field, False)
    if not isinstance(value, bool):
        raise validation_error(f"{field} must be true or false, got {value!r}")
    return value


def _campaign_ids(data: dict[str, Any]) -> tuple[str, ...] | None:
    ids = data.get("campaign_ids")
    if ids is None:
        return None
    if not isinstance(ids, list) or not ids:
        raise validation_error("campaign_ids must be a non-empty list of campaign ids; omit it to export every campaign")
    if len(ids) > MAX_EXPORT_CAMPAIGNS:
        raise validation_error(f"campaign_ids must hold at most {MAX_EXPORT_CAMPAIGNS} ids, got {len(ids)}")
    check_campaign_id_items(ids)
    return tuple(dict.fromkeys(ids))


def _timezone(data: dict[str, Any]) -> str:
    value = data.get("timezone", "UTC")
    if not isinstance(value, str) or not value:
        raise validation_error("timezone must be an IANA time zone name such as 'Europe/Berlin'")
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise validation_error(
            f"timezone {value!r} is not an IANA time zone name; use one such as 'UTC' or 'America/New_York'"
        ) from None
    return value


def parse_export_request(workspace_id: str, data: dict[str, Any]) -> ExportRequest:
    unknown = sorted(set(data) - EXPORT_FIELDS)
    if unknown:
        raise validation_error(f"unknown fields {unknown}; accepted: {', '.join(sorted(EXPORT_FIELDS))}")

    export_type = _choice(data, "export_type", EXPORT_TYPES)
    export_format = _choice(data, "format", EXPORT_FORMATS)
    granularity = _choice(data, "granularity", GRANULARITIES, default="day")
    include_time_series = _flag(data, "include_time_series")
    excel = _flag(data, "excel")
    if include_time_series and export_type != "campaign_performance":
        raise validation_error(
            "include_time_series applies to export_type campaign_performance only; "
            "use export_type time_series for the time series alone"
        )
    if excel and export_format != "csv":
        raise validation_error("excel applies to format csv only: it starts the CSV file with a UTF-8 byte order mark")

    campaign_ids = _campaign_ids(data)
    timezone = _timezone(data)
    try:
        time_range = parse_time_range(data.get("time_range"))
    except InvalidTimeRange as exc:
        raise ApiError(400, "INVALID_TIME_RANGE", str(exc)) from None

    return ExportRequest(
        workspace_id=workspace_id,
        export_type=export_type,  # type: ignore[arg-type]
        format=export_format,  # type: ignore[arg-type]
        time_range=time_range,
        campaign_ids=campaign_ids,
        include_time_series=include_time_series,
        granularity=granularity,  # type: ignore[arg-type]
        timezone=timezone,
        excel=excel,
    )
