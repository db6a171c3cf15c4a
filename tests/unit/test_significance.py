import json
import math

import pytest
from scipy.stats import chi2_contingency, fisher_exact

from analytics.significance import holm_adjust, significance_for_metric


def chi_square_p(*rows: tuple[int, int]) -> float:
    """Reference p-value from scipy for a table of (successes, failures) rows."""
    return float(chi2_contingency([list(row) for row in rows], correction=False).pvalue)


def test_two_campaigns_chi_square_matches_scipy():
    result = significance_for_metric("open_rate", [("a", 60, 200), ("b", 40, 200)])
    assert result.test == "chi_square"
    assert result.p_value == pytest.approx(chi_square_p((60, 140), (40, 160)), rel=1e-12)


def test_two_campaigns_chi_square_matches_z_test():
    result = significance_for_metric("open_rate", [("a", 60, 200), ("b", 40, 200)])
    # z-test by hand: rates 0.30 and 0.20, pooled rate 100/400 = 0.25,
    # SE = sqrt(0.25 * 0.75 * (1/200 + 1/200)) = sqrt(3/1600) = sqrt(3)/40,
    # z = 0.10 / (sqrt(3)/40) = 4/sqrt(3) = 2.3094.
    # p = 2 * (1 - Phi(z)) = erfc(z / sqrt(2)); a normal table gives Phi(2.31) = 0.9896.
    z = 4 / math.sqrt(3)
    assert result.p_value == pytest.approx(math.erfc(z / math.sqrt(2)), rel=1e-9)
    assert result.p_value == pytest.approx(0.0209, abs=1e-4)
    assert result.is_significant is True
    assert result.winner == "a"
    assert result.leader == "a"


def test_two_campaigns_difference():
    result = significance_for_metric("open_rate", [("b", 40, 200), ("a", 60, 200)])
    difference = result.difference
    assert difference is not None
    # Leader minus the other: 30 % - 20 % = 10 points, and 10 / 20 = 50 % relative.
    assert difference.campaign_id == "a"
    assert difference.baseline_id == "b"
    assert difference.absolute == 10.0
    assert difference.relative == 50.0
    assert difference.ci_lower < difference.absolute < difference.ci_upper
    assert difference.confidence_level == 0.95
    assert difference.ci_method == "newcombe_hybrid_score"


def wilson_interval(successes: int, trials: int, z: float) -> tuple[float, float]:
    """Wilson score interval from its closed form, independent of scipy."""
    p = successes / trials
    centre = p + z * z / (2 * trials)
    half_width = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials))
    scale = 1 + z * z / trials
    return (centre - half_width) / scale, (centre + half_width) / scale


def test_difference_newcombe_interval():
    result = significance_for_metric("open_rate", [("a", 56, 70), ("b", 48, 80)])
    difference = result.difference
    assert difference is not None

    # Newcombe's hybrid score interval: d - sqrt((p1 - l1)^2 + (u2 - p2)^2) and
    # d + sqrt((u1 - p1)^2 + (p2 - l2)^2), with (l, u) the Wilson interval of each rate.
    z = 1.959963984540054  # standard normal 97.5 % quantile, for 95 % confidence
    p1, p2 = 56 / 70, 48 / 80
    l1, u1 = wilson_interval(56, 70, z)
    l2, u2 = wilson_interval(48, 80, z)
    lower = 100 * (p1 - p2 - math.hypot(p1 - l1, u2 - p2))
    upper = 100 * (p1 - p2 + math.hypot(u1 - p1, p2 - l2))

    assert difference.ci_lower == pytest.approx(lower, rel=1e-9)
    assert difference.ci_upper == pytest.approx(upper, rel=1e-9)


def test_difference_interval_follows_alpha():
    counts = [("a", 56, 70), ("b", 48, 80)]
    wide = significance_for_metric("open_rate", counts, alpha=0.01).difference
    narrow = significance_for_metric("open_rate", counts, alpha=0.10).difference
    assert wide is not None and narrow is not None
    assert wide.confidence_level == 0.99
    assert wide.ci_lower < narrow.ci_lower
    assert wide.ci_upper > narrow.ci_upper


def test_fisher_when_expected_below_five():
    # Expected successes per campaign: 6 * 10 / 20 = 3, below 5.
    result = significance_for_metric("click_rate", [("a", 1, 10), ("b", 5, 10)])
    assert result.test == "fisher_exact"
    assert result.p_value == pytest.approx(fisher_exact([[1, 9], [5, 5]]).pvalue, rel=1e-12)
    # By hand: with margins 6 successes of 20 and 10 per row, P(k successes in row a) is
    # C(10, k) * C(10, 6 - k) / C(20, 6) = {210, 2520, 9450, 14400, 9450, 2520, 210} / 38760
    # for k = 0..6. The tables no more likely than k = 1 are k = 0, 1, 5, 6.
    assert result.p_value == pytest.approx((210 + 2520 + 2520 + 210) / 38760, rel=1e-9)
    assert result.is_significant is False
    assert result.winner is None
    assert result.leader == "b"


def test_chi_square_when_expected_exactly_five():
    # Expected count of every cell: 10 * 10 / 20 = 5.
    result = significance_for_metric("click_rate", [("a", 4, 10), ("b", 6, 10)])
    assert result.test == "chi_square"
    assert result.p_value == pytest.approx(chi_square_p((4, 6), (6, 4)), rel=1e-12)


def test_two_campaigns_not_significant():
    result = significance_for_metric("open_rate", [("a", 52, 100), ("b", 48, 100)])
    assert result.p_value == pytest.approx(chi_square_p((52, 48), (48, 52)), rel=1e-12)
    assert result.is_significant is False
    assert result.winner is None
    assert result.leader == "a"


def test_two_campaigns_tie():
    result = significance_for_metric("open_rate", [("a", 50, 100), ("b", 50, 100)])
    assert result.winner is None
    assert result.is_significant is False
    assert result.leader == "a"
    assert result.difference is not None
    assert result.difference.absolute == 0.0


def test_lower_is_better_winner():
    result = significance_for_metric("bounce_rate", [("a", 40, 1000), ("b", 10, 1000)])
    assert result.lower_is_better is True
    assert result.p_value == pytest.approx(chi_square_p((40, 960), (10, 990)), rel=1e-12)
    assert result.is_significant is True
    assert result.winner == "b"
    assert result.difference is not None
    # 1 % - 4 % = -3 points, and -3 / 4 = -75 % relative to campaign a.
    assert result.difference.campaign_id == "b"
    assert result.difference.absolute == -3.0
    assert result.difference.relative == -75.0


def test_higher_is_better_winner():
    # The same counts as above under a metric where more is better.
    result = significance_for_metric("reply_rate", [("a", 40, 1000), ("b", 10, 1000)])
    assert result.lower_is_better is False
    assert result.winner == "a"


def test_all_zero_table():
    result = significance_for_metric("reply_rate", [("a", 0, 100), ("b", 0, 80)])
    assert result.p_value is None
    assert result.is_significant is False
    assert result.winner is None
    assert result.test is None
    assert "emails_replied is 0 for every campaign" in result.reason
    assert result.difference is not None
    assert result.difference.absolute == 0.0
    assert result.difference.relative is None


def test_all_zero_trials():
    result = significance_for_metric("open_rate", [("a", 0, 0), ("b", 0, 0)])
    assert result.p_value is None
    assert result.is_significant is False
    assert result.winner is None
    assert result.leader is None
    assert result.difference is None
    assert "campaigns 'a', 'b'" in result.reason


def test_all_successes_equal_trials():
    result = significance_for_metric("delivery_rate", [("a", 10, 10), ("b", 30, 30)])
    assert result.p_value is None
    assert result.winner is None
    assert "100 % for every campaign" in result.reason


def test_zero_trial_campaign():
    result = significance_for_metric("open_rate", [("a", 10, 100), ("b", 0, 0), ("c", 5, 90)])
    assert result.p_value is None
    assert result.is_significant is False
    assert result.winner is None
    assert result.leader is None
    assert result.pairwise == ()
    assert "emails_delivered is 0 for campaign 'b'" in result.reason
    assert result.counts[1].rate is None
    assert result.counts[0].rate == 10.0


def test_fewer_than_two_campaigns():
    single = significance_for_metric("open_rate", [("a", 10, 100)])
    empty = significance_for_metric("open_rate", [])
    assert single.p_value is None
    assert "at least two campaigns, got 1" in single.reason
    assert empty.p_value is None
    assert "at least two campaigns, got 0" in empty.reason
    assert empty.leader is None


def test_three_campaigns_omnibus_holm():
    counts = [("a", 120, 1000), ("b", 80, 1000), ("c", 70, 1000)]
    result = significance_for_metric("open_rate", counts)

    assert result.test == "chi_square_omnibus"
    omnibus = chi_square_p((120, 880), (80, 920), (70, 930))
    assert result.p_value == pytest.approx(omnibus, rel=1e-12)
    assert result.is_significant is True
    assert result.leader == "a"

    # Leader a against b and c, each a 2x2 chi-square with large expected counts.
    p_b = chi_square_p((120, 880), (80, 920))
    p_c = chi_square_p((120, 880), (70, 930))
    assert p_c < p_b
    pair_b, pair_c = result.pairwise
    assert pair_b.campaign_id == "b"
    assert pair_b.test == "chi_square"
    assert pair_b.p_value == pytest.approx(p_b, rel=1e-12)
    assert pair_c.p_value == pytest.approx(p_c, rel=1e-12)
    # Holm with two hypotheses: the smaller p-value times 2, the larger times 1, with the
    # larger adjusted value kept at least as large as the smaller one.
    assert pair_c.p_value_holm == pytest.approx(2 * p_c, rel=1e-12)
    assert pair_b.p_value_holm == pytest.approx(max(2 * p_c, p_b), rel=1e-12)
    assert pair_b.is_significant is True
    assert pair_c.is_significant is True
    assert pair_b.difference.absolute == 4.0
    assert result.winner == "a"
    assert result.difference is None


def test_three_campaigns_pair_not_significant():
    # a and b are close, c is far behind: the omnibus test rejects, but a does not beat b.
    counts = [("a", 120, 1000), ("b", 115, 1000), ("c", 60, 1000)]
    result = significance_for_metric("open_rate", counts)
    assert result.is_significant is True
    assert result.leader == "a"
    pair_b = result.pairwise[0]
    assert pair_b.campaign_id == "b"
    assert pair_b.p_value_holm >= 0.05
    assert pair_b.is_significant is False
    assert result.winner is None


def test_three_campaigns_omnibus_not_significant():
    counts = [("a", 50, 500), ("b", 48, 500), ("c", 45, 500)]
    result = significance_for_metric("open_rate", counts)
    assert result.p_value == pytest.approx(chi_square_p((50, 450), (48, 452), (45, 455)), rel=1e-12)
    assert result.is_significant is False
    assert result.winner is None


def test_three_campaigns_tie_for_leader():
    counts = [("a", 100, 1000), ("b", 100, 1000), ("c", 40, 1000)]
    result = significance_for_metric("open_rate", counts)
    assert result.is_significant is True
    assert result.leader == "a"
    assert result.winner is None


def test_three_campaigns_lower_is_better():
    counts = [("a", 40, 1000), ("b", 10, 1000), ("c", 45, 1000)]
    result = significance_for_metric("unsubscribe_rate", counts)
    assert result.leader == "b"
    assert [pair.campaign_id for pair in result.pairwise] == ["a", "c"]
    assert result.winner == "b"


def test_three_campaigns_untestable_pair():
    # a and b both have no bounces, so their 2x2 table has an empty column.
    counts = [("a", 0, 500), ("b", 0, 500), ("c", 30, 500)]
    result = significance_for_metric("bounce_rate", counts)
    assert result.p_value == pytest.approx(chi_square_p((0, 500), (0, 500), (30, 470)), rel=1e-12)
    assert result.leader == "a"
    pair_b, pair_c = result.pairwise
    assert pair_b.p_value is None
    assert pair_b.p_value_holm is None
    assert pair_b.test is None
    assert "0 % for both campaigns" in pair_b.reason
    # Only one testable pair remains, so Holm leaves its p-value unchanged.
    assert pair_c.p_value_holm == pair_c.p_value
    assert result.winner is None


def test_holm_adjust_by_hand():
    # Sorted: 0.01 * 3 = 0.03, 0.03 * 2 = 0.06, 0.04 * 1 = 0.04 raised to 0.06.
    assert holm_adjust([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])


def test_holm_adjust_caps_at_one():
    assert holm_adjust([0.6, 0.7]) == [1.0, 1.0]


def test_holm_adjust_empty():
    assert holm_adjust([]) == []


def test_as_dict_has_no_nan():
    cases = [
        ("open_rate", [("a", 60, 200), ("b", 40, 200)]),
        ("click_rate", [("a", 1, 10), ("b", 5, 10)]),
        ("reply_rate", [("a", 0, 100), ("b", 0, 80)]),
        ("open_rate", [("a", 0, 0), ("b", 0, 0)]),
        ("open_rate", [("a", 10, 100), ("b", 0, 0)]),
        ("delivery_rate", [("a", 10, 10), ("b", 30, 30)]),
        ("open_rate", [("a", 10, 100)]),
        ("open_rate", [("a", 120, 1000), ("b", 80, 1000), ("c", 70, 1000)]),
        ("bounce_rate", [("a", 0, 500), ("b", 0, 500), ("c", 30, 500)]),
    ]
    for metric, counts in cases:
        data = significance_for_metric(metric, counts).as_dict()
        # allow_nan=False raises ValueError on NaN or infinity anywhere in the output.
        text = json.dumps(data, allow_nan=False)
        assert json.loads(text) == json.loads(json.dumps(data)), counts


def test_as_dict_fields():
    data = significance_for_metric("open_rate", [("a", 60, 200), ("b", 40, 200)]).as_dict()
    assert data["metric"] == "open_rate"
    assert data["winner"] == "a"
    assert data["alpha"] == 0.05
    assert data["reason"] is None
    assert data["counts"][0] == {"campaign_id": "a", "successes": 60, "trials": 200, "rate": 30.0}
    assert data["difference"]["absolute"] == 10.0
    assert data["pairwise"] == []


def test_unknown_metric():
    with pytest.raises(ValueError, match="Unknown metric"):
        significance_for_metric("ctr", [("a", 1, 2), ("b", 1, 2)])


def test_invalid_alpha():
    with pytest.raises(ValueError, match="alpha"):
        significance_for_metric("open_rate", [("a", 1, 2), ("b", 1, 2)], alpha=1.5)


def test_duplicate_campaign():
    with pytest.raises(ValueError, match="more than once"):
        significance_for_metric("open_rate", [("a", 1, 2), ("a", 1, 2)])


def test_successes_above_trials():
    with pytest.raises(ValueError, match="invalid counts 3/2"):
        significance_for_metric("open_rate", [("a", 3, 2), ("b", 1, 2)])
