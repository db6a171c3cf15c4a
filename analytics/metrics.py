"""Per-campaign counts and the rates defined on them.

Both the API and the export agent compute rates here, so that a number means the same thing
wherever it appears. Rates are percentages from 0 to 100, rounded to two decimals, and a zero
denominator gives None (JSON null) rather than 0 or an error.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal, get_args

MetricName = Literal[
    "delivery_rate",
    "bounce_rate",
    "open_rate",
    "click_rate",
    "click_to_open_rate",
    "reply_rate",
    "spam_rate",
    "unsubscribe_rate",
]

SummaryField = Literal[
    "emails_sent",
    "emails_delivered",
    "emails_bounced",
    "emails_opened",
    "emails_clicked",
    "emails_replied",
    "spam_complaints",
    "unsubscribes",
    "machine_opens",
    "bot_clicks",
    "total_opens",
    "total_clicks",
]


@dataclass(frozen=True)
class Summary:
    """Counts behind one campaign's rates.

    Every ``emails_*`` field, ``spam_complaints`` and ``unsubscribes`` count distinct messages
    that reached that step, with implied steps included (an open implies delivered, delivered
    implies sent). ``emails_opened`` and ``emails_clicked`` leave out machine opens and bot
    clicks, which are counted in ``machine_opens`` and ``bot_clicks``. ``total_opens`` and
    ``total_clicks`` count distinct raw open and click events.
    """

    emails_sent: int = 0
    emails_delivered: int = 0
    emails_bounced: int = 0
    emails_opened: int = 0
    emails_clicked: int = 0
    emails_replied: int = 0
    spam_complaints: int = 0
    unsubscribes: int = 0
    machine_opens: int = 0
    bot_clicks: int = 0
    total_opens: int = 0
    total_clicks: int = 0

    def as_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class MetricDefinition:
    """A rate as ``numerator / denominator`` over two Summary fields.

    ``lower_is_better`` marks metrics where the smaller rate is the better one (bounces,
    spam complaints, unsubscribes), which decides the winner of a comparison.
    """

    numerator: SummaryField
    denominator: SummaryField
    lower_is_better: bool = False

    def counts(self, summary: Summary) -> tuple[int, int]:
        """Return ``(numerator, denominator)`` of this metric read from ``summary``."""
        return getattr(summary, self.numerator), getattr(summary, self.denominator)


METRICS: Mapping[MetricName, MetricDefinition] = MappingProxyType(
    {
        "delivery_rate": MetricDefinition("emails_delivered", "emails_sent"),
        "bounce_rate": MetricDefinition("emails_bounced", "emails_sent", lower_is_better=True),
        "open_rate": MetricDefinition("emails_opened", "emails_delivered"),
        "click_rate": MetricDefinition("emails_clicked", "emails_delivered"),
        "click_to_open_rate": MetricDefinition("emails_clicked", "emails_opened"),
        "reply_rate": MetricDefinition("emails_replied", "emails_delivered"),
        "spam_rate": MetricDefinition("spam_complaints", "emails_delivered", lower_is_better=True),
        "unsubscribe_rate": MetricDefinition("unsubscribes", "emails_delivered", lower_is_better=True),
    }
)

assert set(METRICS) == set(get_args(MetricName)), "METRICS and MetricName list different metrics"


def get_metric(metric: str) -> MetricDefinition:
    """Return the definition of ``metric``, or raise ValueError naming the known metrics."""
    try:
        return METRICS[metric]  # type: ignore[index]
    except KeyError:
        known = ", ".join(METRICS)
        raise ValueError(f"Unknown metric {metric!r}. Expected one of: {known}.") from None


def rate(numerator: int, denominator: int) -> float | None:
    """Return ``numerator / denominator`` as a percentage rounded to two decimals.

    A zero denominator returns None. Halves round up (1/800 is 0.125 %, returned as 0.13),
    and the rounding uses integer arithmetic, so binary floating point never moves a rate
    across a rounding boundary. Raises ValueError for a negative count or a numerator larger
    than its denominator, because the counting rules make every rate at most 100 %.
    """
    if numerator < 0 or denominator < 0:
        raise ValueError(f"Counts must not be negative, got {numerator}/{denominator}.")
    if numerator > denominator:
        raise ValueError(
            f"Numerator {numerator} is larger than denominator {denominator}, "
            "so the counts are inconsistent."
        )
    if denominator == 0:
        return None

    # Hundredths of a percent, rounded half up: floor(10000 * n / d + 1/2).
    hundredths = (20_000 * numerator + denominator) // (2 * denominator)
    return hundredths / 100


def rate_sql(numerator: str, denominator: str) -> str:
    """Return a ClickHouse expression computing :func:`rate` from two UInt64 columns.

    The expression uses the same integer half-up rounding, so a rate computed in
    SQL (the exports) equals the one computed here (the compare API). A zero
    denominator gives NULL.
    """
    return (
        f"if({denominator} = 0, NULL, "
        f"intDiv(20000 * {numerator} + {denominator}, 2 * {denominator}) / 100)"
    )


def compute_rates(
    summary: Summary, metrics: Iterable[str] | None = None
) -> dict[str, float | None]:
    """Return the requested rates of one campaign, keyed by metric name in request order.

    ``metrics=None`` requests every metric in METRICS. Raises ValueError for an unknown name.
    """
    names = list(METRICS) if metrics is None else list(metrics)
    rates: dict[str, float | None] = {}
    for name in names:
        numerator, denominator = get_metric(name).counts(summary)
        rates[name] = rate(numerator, denominator)
    return rates
