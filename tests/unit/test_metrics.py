import dataclasses
from typing import get_args

import pytest

from analytics.metrics import METRICS, MetricName, Summary, compute_rates, get_metric, rate

SUMMARY_FIELDS = {field.name for field in dataclasses.fields(Summary)}


def test_rate_rounds_to_two_decimals():
    # 1/3 = 33.333...% and 2/3 = 66.666...%.
    assert rate(1, 3) == 33.33
    assert rate(2, 3) == 66.67


def test_rate_rounds_half_up():
    # 1/800 = 0.125 % exactly, halfway between 0.12 and 0.13. Python's round(0.125, 2)
    # returns 0.12, so this checks that the halfway case rounds up.
    assert rate(1, 800) == 0.13
    # 3/800 = 0.375 %, also a halfway case.
    assert rate(3, 800) == 0.38


def test_rate_whole_and_empty():
    assert rate(0, 7) == 0.0
    assert rate(7, 7) == 100.0
    assert rate(1, 4) == 25.0


def test_rate_zero_denominator_is_none():
    assert rate(0, 0) is None


def test_rate_rejects_negative_count():
    with pytest.raises(ValueError, match="negative"):
        rate(-1, 10)
    with pytest.raises(ValueError, match="negative"):
        rate(1, -10)


def test_rate_rejects_numerator_above_denominator():
    with pytest.raises(ValueError, match="larger than denominator"):
        rate(11, 10)


def test_metrics_match_metric_name():
    assert set(METRICS) == set(get_args(MetricName))


def test_metrics_read_summary_fields():
    for name, definition in METRICS.items():
        assert definition.numerator in SUMMARY_FIELDS, name
        assert definition.denominator in SUMMARY_FIELDS, name


def test_metrics_lower_is_better():
    lower = {name for name, definition in METRICS.items() if definition.lower_is_better}
    assert lower == {"bounce_rate", "spam_rate", "unsubscribe_rate"}


def test_metrics_definitions():
    # The numerator/denominator pairs of the counting rules, written out independently.
    expected = {
        "delivery_rate": ("emails_delivered", "emails_sent"),
        "bounce_rate": ("emails_bounced", "emails_sent"),
        "open_rate": ("emails_opened", "emails_delivered"),
        "click_rate": ("emails_clicked", "emails_delivered"),
        "click_to_open_rate": ("emails_clicked", "emails_opened"),
        "reply_rate": ("emails_replied", "emails_delivered"),
        "spam_rate": ("spam_complaints", "emails_delivered"),
        "unsubscribe_rate": ("unsubscribes", "emails_delivered"),
    }
    actual = {name: (d.numerator, d.denominator) for name, d in METRICS.items()}
    assert actual == expected


def test_get_metric_unknown_name():
    with pytest.raises(ValueError, match="Unknown metric 'conversion_rate'"):
        get_metric("conversion_rate")


def test_summary_as_dict():
    summary = Summary(emails_sent=3, machine_opens=2, total_clicks=5)
    data = summary.as_dict()
    assert set(data) == SUMMARY_FIELDS
    assert data["emails_sent"] == 3
    assert data["machine_opens"] == 2
    assert data["total_clicks"] == 5
    assert data["emails_opened"] == 0


def test_summary_is_frozen():
    summary = Summary(emails_sent=1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        summary.emails_sent = 2  # type: ignore[misc]


def test_compute_rates_all_metrics():
    summary = Summary(
        emails_sent=1000,
        emails_delivered=950,
        emails_bounced=50,
        emails_opened=380,
        emails_clicked=57,
        emails_replied=19,
        spam_complaints=1,
        unsubscribes=3,
    )
    rates = compute_rates(summary)
    # Each value is numerator / denominator * 100, rounded to two decimals by hand.
    assert rates["delivery_rate"] == 95.0  # 950 / 1000
    assert rates["bounce_rate"] == 5.0  # 50 / 1000
    assert rates["open_rate"] == 40.0  # 380 / 950
    assert rates["click_rate"] == 6.0  # 57 / 950
    assert rates["click_to_open_rate"] == 15.0  # 57 / 380
    assert rates["reply_rate"] == 2.0  # 19 / 950
    assert rates["spam_rate"] == 0.11  # 1 / 950 = 0.10526...%
    assert rates["unsubscribe_rate"] == 0.32  # 3 / 950 = 0.31578...%
    assert list(rates) == list(METRICS)


def test_compute_rates_requested_order():
    summary = Summary(emails_sent=4, emails_delivered=4, emails_opened=1)
    rates = compute_rates(summary, ["open_rate", "delivery_rate"])
    assert list(rates) == ["open_rate", "delivery_rate"]
    assert rates["open_rate"] == 25.0
    assert rates["delivery_rate"] == 100.0


def test_compute_rates_zero_denominator():
    # Sent but nothing delivered: rates over delivered are undefined, rates over sent are not.
    summary = Summary(emails_sent=10, emails_bounced=10)
    rates = compute_rates(summary)
    assert rates["open_rate"] is None
    assert rates["click_rate"] is None
    assert rates["click_to_open_rate"] is None
    assert rates["spam_rate"] is None
    assert rates["bounce_rate"] == 100.0
    assert rates["delivery_rate"] == 0.0


def test_compute_rates_unknown_metric():
    with pytest.raises(ValueError, match="Unknown metric"):
        compute_rates(Summary(), ["open_rate", "ctr"])
