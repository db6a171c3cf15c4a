"""Campaign comparison: summary counts, rates and significance for a set of campaigns."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from analytics.metrics import METRICS, Summary, compute_rates
from analytics.queries import campaign_summaries, known_campaigns, newest_event_ms
from analytics.significance import significance_for_metric
from analytics.time_range import TimeRange
from app.clickhouse import ClickHouse
from app.errors import CampaignAnalyticsError


class CampaignNotFound(CampaignAnalyticsError):
    def __init__(self, campaign_id: str, workspace_id: str) -> None:
        super().__init__(f"Campaign {campaign_id} not found in workspace {workspace_id}")
        self.campaign_id = campaign_id
        self.workspace_id = workspace_id


@dataclass(frozen=True)
class CompareRequest:
    workspace_id: str
    campaign_ids: tuple[str, ...]
    metrics: tuple[str, ...]
    time_range: TimeRange
    alpha: float


def _iso_from_millis(millis: int | None) -> str | None:
    if millis is None:
        return None
    moment = dt.datetime.fromtimestamp(millis / 1000, tz=dt.timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def compare_campaigns(
    clickhouse: ClickHouse,
    request: CompareRequest,
    bot_click_window_seconds: float,
    lag: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Build the ``data`` of a compare response; raise CampaignNotFound for an unknown campaign.

    ``as_of`` is the newest event time in the aggregates and ``lag`` the
    current consumer lag of the events topic (None when unknown), so a client
    can tell how fresh the numbers are.
    """
    names = known_campaigns(clickhouse, request.workspace_id, request.campaign_ids)
    for campaign_id in request.campaign_ids:
        if campaign_id not in names:
            raise CampaignNotFound(campaign_id, request.workspace_id)

    counts = campaign_summaries(
        clickhouse, request.workspace_id, request.campaign_ids, request.time_range, bot_click_window_seconds
    )
    summaries = {campaign_id: Summary(**counts[campaign_id]) for campaign_id in request.campaign_ids}

    comparison = [
        {
            "campaign_id": campaign_id,
            "campaign_name": names[campaign_id],
            "metrics": compute_rates(summaries[campaign_id], request.metrics),
            "summary": summaries[campaign_id].as_dict(),
        }
        for campaign_id in request.campaign_ids
    ]
    significance = [
        significance_for_metric(
            metric,
            [(campaign_id, *METRICS[metric].counts(summaries[campaign_id])) for campaign_id in request.campaign_ids],  # type: ignore[index]
            alpha=request.alpha,
        ).as_dict()
        for metric in request.metrics
    ]
    return {
        "workspace_id": request.workspace_id,
        "time_range": request.time_range.as_dict(),
        "as_of": _iso_from_millis(newest_event_ms(clickhouse, request.workspace_id, request.campaign_ids)),
        "lag": lag,
        "comparison": comparison,
        "statistical_significance": significance,
    }


def metric_names() -> Sequence[str]:
    return list(METRICS)
