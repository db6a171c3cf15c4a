"""Validation of request bodies; every failure names the field and the reason."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

from analytics.compare import CompareRequest
from analytics.metrics import METRICS
from analytics.significance import DEFAULT_ALPHA
from analytics.time_range import InvalidTimeRange, parse_time_range
from api.errors import ApiError, validation_error

MAX_CAMPAIGNS = 20
MIN_ALPHA = 1e-10
MAX_ID_LENGTH = 512
COMPARE_FIELDS = {"campaign_ids", "metrics", "time_range", "alpha"}


async def read_json_object(request: Request) -> dict[str, Any]:
    body = await request.body()
    if not body:
        raise validation_error("request body is empty; send a JSON object")
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise validation_error(f"request body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise validation_error("request body must be a JSON object")
    return data


def check_campaign_id_items(ids: list[Any]) -> None:
    """Raise VALIDATION_ERROR naming the first item that is not a usable campaign id."""
    for index, value in enumerate(ids):
        if not isinstance(value, str) or not value.strip():
            raise validation_error(f"campaign_ids[{index}] must be a non-empty string")
        if len(value) > MAX_ID_LENGTH:
            raise validation_error(f"campaign_ids[{index}] is longer than {MAX_ID_LENGTH} characters")


def _campaign_ids(data: dict[str, Any]) -> tuple[str, ...]:
    ids = data.get("campaign_ids")
    if ids is None:
        raise validation_error("campaign_ids is required: a list of 2 to 20 campaign ids")
    if not isinstance(ids, list):
        raise validation_error("campaign_ids must be a list of strings")
    if not 2 <= len(ids) <= MAX_CAMPAIGNS:
        raise validation_error(f"campaign_ids must hold 2 to {MAX_CAMPAIGNS} campaign ids, got {len(ids)}")
    check_campaign_id_items(ids)
    if len(set(ids)) != len(ids):
        duplicates = sorted({value for value in ids if ids.count(value) > 1})
        raise validation_error(f"campaign_ids lists {', '.join(duplicates)} more than once")
    return tuple(ids)


def _metrics(data: dict[str, Any]) -> tuple[str, ...]:
    metrics = data.get("metrics")
    if metrics is None:
        return tuple(METRICS)
    if not isinstance(metrics, list) or not metrics:
        raise validation_error("metrics must be a non-empty list of metric names")
    for index, name in enumerate(metrics):
        if not isinstance(name, str) or name not in METRICS:
            raise validation_error(
                f"metrics[{index}] is {name!r}, which is not a metric; accepted: {', '.join(METRICS)}"
            )
    return tuple(dict.fromkeys(metrics))


def _alpha(data: dict[str, Any]) -> float:
    alpha = data.get("alpha")
    if alpha is None:
        return DEFAULT_ALPHA
    # Below MIN_ALPHA the confidence level 1 - alpha rounds to 1.0 in floating
    # point, where confidence intervals have no finite bounds.
    valid = isinstance(alpha, (int, float)) and not isinstance(alpha, bool) and MIN_ALPHA <= alpha < 1
    if not valid:
        raise validation_error(f"alpha must be a number from {MIN_ALPHA:g} to below 1, got {json.dumps(alpha)}")
    return float(alpha)


def parse_compare_request(workspace_id: str, data: dict[str, Any]) -> CompareRequest:
    unknown = sorted(set(data) - COMPARE_FIELDS)
    if unknown:
        raise validation_error(f"unknown fields {unknown}; accepted: {', '.join(sorted(COMPARE_FIELDS))}")
    campaign_ids = _campaign_ids(data)
    metrics = _metrics(data)
    alpha = _alpha(data)
    try:
        time_range = parse_time_range(data.get("time_range"))
    except InvalidTimeRange as exc:
        raise ApiError(400, "INVALID_TIME_RANGE", str(exc)) from None
    return CompareRequest(workspace_id, campaign_ids, metrics, time_range, alpha)
