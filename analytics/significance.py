"""Significance tests that compare one rate across campaigns.

Each campaign contributes ``successes`` out of ``trials`` (for ``open_rate``: opened out of
delivered), and the campaigns form a k x 2 contingency table of successes and failures.

- Two campaigns: the two-proportion test, which is the chi-square test without continuity
  correction (equal to the two-sided z-test) when every expected cell count is at least 5,
  and Fisher's exact test otherwise. The better rate wins when ``p < alpha``.
- More than two campaigns: the omnibus chi-square test of the k x 2 table, without continuity
  correction, gives ``p_value``. The leader (the best rate) is then tested against each other
  campaign with the two-campaign rule above, and those p-values get Holm's correction. The
  leader wins only when the omnibus test and every Holm-adjusted pairwise test are below
  ``alpha``.

The test statistics and Wilson intervals come from scipy. A table that no test is defined
for, because a campaign has no trials or the rate does not vary (every success count 0, or
every one equal to its trials), returns ``p_value=None`` with a ``reason`` instead of raising.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Literal

import numpy as np
from scipy.stats import binomtest, chi2_contingency, fisher_exact
from scipy.stats.contingency import expected_freq

from analytics.metrics import MetricDefinition, get_metric, rate

TestName = Literal["chi_square", "fisher_exact", "chi_square_omnibus"]

DEFAULT_ALPHA = 0.05

# Below this expected cell count the chi-square approximation of a 2x2 table is unreliable,
# so Fisher's exact test is used instead (the usual rule of thumb).
MIN_EXPECTED_COUNT = 5

# Newcombe's hybrid score interval for the difference of two proportions, whose bounds
# combine the Wilson score interval of each proportion (see _difference).
CI_METHOD = "newcombe_hybrid_score"


@dataclass(frozen=True)
class CampaignCounts:
    """Counts behind one campaign's rate; ``rate`` is a percentage as ``metrics.rate`` returns it."""

    campaign_id: str
    successes: int
    trials: int
    rate: float | None


@dataclass(frozen=True)
class Difference:
    """Rate of ``campaign_id`` minus the rate of ``baseline_id``.

    ``absolute`` and the interval bounds are in percentage points and ``relative`` is a
    percentage of the baseline's rate (None when that rate is 0). They are computed from the
    exact counts and left unrounded, so small differences of small rates such as
    ``spam_rate`` stay visible. They can therefore differ by up to 0.01 from the difference
    of the two rounded rates. ``confidence_level`` is ``1 - alpha``.
    """

    campaign_id: str
    baseline_id: str
    absolute: float
    relative: float | None
    ci_lower: float
    ci_upper: float
    confidence_level: float
    ci_method: str = CI_METHOD


@dataclass(frozen=True)
class PairwiseTest:
    """Test of the leader against ``campaign_id``, one of the other campaigns.

    ``p_value_holm`` is the Holm-adjusted p-value over all testable pairs, and
    ``is_significant`` compares it with alpha. A pair whose two rates are both 0 % or both
    100 % cannot be tested: its test and p-values are None and ``reason`` gives the cause.
    """

    campaign_id: str
    test: TestName | None
    p_value: float | None
    p_value_holm: float | None
    is_significant: bool
    difference: Difference
    reason: str | None = None


@dataclass(frozen=True)
class SignificanceResult:
    """Result of comparing one metric across campaigns.

    ``is_significant`` is ``p_value < alpha``, for the omnibus test when more than two
    campaigns are compared. ``leader`` is the campaign with the best rate (the lowest when
    ``lower_is_better``), the first of them in input order when several share it. It is
    None when no campaign is given or a campaign has no trials. ``winner`` is the leader
    once the rules in the module docstring name it, and never when another campaign has the
    same rate. ``difference`` (leader minus the other campaign) is set for exactly two
    campaigns that both have trials. ``pairwise`` is filled for more than two campaigns when
    the omnibus test ran.
    """

    metric: str
    alpha: float
    lower_is_better: bool
    test: TestName | None
    p_value: float | None
    is_significant: bool
    winner: str | None
    leader: str | None
    reason: str | None
    counts: tuple[CampaignCounts, ...]
    difference: Difference | None = None
    pairwise: tuple[PairwiseTest, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """Return the result as plain JSON-ready values (None where no number exists, never NaN)."""
        data = dataclasses.asdict(self)
        data["counts"] = list(data["counts"])
        data["pairwise"] = list(data["pairwise"])
        return data


def significance_for_metric(
    metric: str,
    counts: Sequence[tuple[str, int, int]],
    alpha: float = DEFAULT_ALPHA,
) -> SignificanceResult:
    """Test whether ``metric`` differs between campaigns and name the winner if it does.

    ``counts`` contains ``(campaign_id, successes, trials)`` per campaign, read from the metric's
    numerator and denominator (see ``analytics.metrics.METRICS``). Raises ValueError for an
    unknown metric, an alpha outside (0, 1), a repeated campaign id, a negative count or
    more successes than trials. An untestable table is not an error (see the module docstring).
    """
    definition = get_metric(metric)
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1 (exclusive), got {alpha!r}.")
    campaigns = _validate_counts(counts)

    has_trials = bool(campaigns) and all(campaign.trials > 0 for campaign in campaigns)
    leader = _find_leader(campaigns, definition.lower_is_better) if has_trials else None
    difference = None
    if len(campaigns) == 2 and leader is not None:
        difference = _difference(leader, _other_of_two(campaigns, leader), 1 - alpha)

    # The result of an untestable table, and the base that the tests below fill in.
    base = SignificanceResult(
        metric=metric,
        alpha=alpha,
        lower_is_better=definition.lower_is_better,
        test=None,
        p_value=None,
        is_significant=False,
        winner=None,
        leader=None if leader is None else leader.campaign_id,
        reason=_untestable_reason(metric, definition, campaigns),
        counts=campaigns,
        difference=difference,
    )
    if base.reason is not None or leader is None:
        return base

    if len(campaigns) == 2:
        return _compare_two(base, leader, _other_of_two(campaigns, leader))
    return _compare_many(base, leader)


def _compare_two(
    base: SignificanceResult, leader: CampaignCounts, other: CampaignCounts
) -> SignificanceResult:
    test, p_value = _test_pair(leader, other)
    is_significant = p_value < base.alpha
    # Equal rates already give p = 1, but the check states the rule instead of relying on that.
    tied = _proportion(leader) == _proportion(other)
    return dataclasses.replace(
        base,
        test=test,
        p_value=p_value,
        is_significant=is_significant,
        winner=leader.campaign_id if is_significant and not tied else None,
    )


def _compare_many(base: SignificanceResult, leader: CampaignCounts) -> SignificanceResult:
    # NOTE: the omnibus chi-square test is used whatever the expected counts, so with very
    # small campaigns its p-value is only approximate. The pairwise tests fall back to Fisher.
    table = np.array([[c.successes, c.trials - c.successes] for c in base.counts], dtype=np.int64)
    p_value = float(chi2_contingency(table, correction=False).pvalue)
    is_significant = p_value < base.alpha

    # 1. Test the leader against every other campaign. Pairs with a zero column are untestable.
    others = [campaign for campaign in base.counts if campaign is not leader]
    raw_results: list[tuple[TestName | None, float | None, str | None]] = []
    for other in others:
        pair_reason = _untestable_pair_reason(base.metric, leader, other)
        if pair_reason is not None:
            raw_results.append((None, None, pair_reason))
            continue
        test, pair_p_value = _test_pair(leader, other)
        raw_results.append((test, pair_p_value, None))

    # 2. Holm's correction over the pairs that have a p-value. An untestable pair has the
    #    same rate as the leader, so it already rules out a winner and adds no hypothesis.
    tested = [p for _, p, _ in raw_results if p is not None]
    adjusted = iter(holm_adjust(tested))
    pairwise: list[PairwiseTest] = []
    for other, (test, pair_p_value, pair_reason) in zip(others, raw_results, strict=True):
        p_value_holm = next(adjusted) if pair_p_value is not None else None
        pairwise.append(
            PairwiseTest(
                campaign_id=other.campaign_id,
                test=test,
                p_value=pair_p_value,
                p_value_holm=p_value_holm,
                is_significant=p_value_holm is not None and p_value_holm < base.alpha,
                difference=_difference(leader, other, 1 - base.alpha),
                reason=pair_reason,
            )
        )

    # 3. The leader wins only against every other campaign and with a significant omnibus test.
    tied = any(_proportion(other) == _proportion(leader) for other in others)
    leader_wins = is_significant and not tied and all(pair.is_significant for pair in pairwise)
    return dataclasses.replace(
        base,
        test="chi_square_omnibus",
        p_value=p_value,
        is_significant=is_significant,
        winner=leader.campaign_id if leader_wins else None,
        pairwise=tuple(pairwise),
    )


def holm_adjust(p_values: Sequence[float]) -> list[float]:
    """Return Holm step-down adjusted p-values, in the order of ``p_values``.

    The i-th smallest of m p-values is multiplied by ``m - i + 1`` (i from 1), capped at 1,
    and each adjusted value is raised to at least the adjusted value before it, so the
    order of the raw p-values is kept.
    """
    # Written here because scipy 1.17.1, the installed version, has no Holm adjustment:
    # scipy.stats.false_discovery_control offers only Benjamini-Hochberg and Benjamini-Yekutieli.
    count = len(p_values)
    order = sorted(range(count), key=lambda index: p_values[index])
    adjusted = [0.0] * count
    running_max = 0.0
    for rank, index in enumerate(order):
        running_max = max(running_max, min(1.0, (count - rank) * p_values[index]))
        adjusted[index] = running_max
    return adjusted


def _validate_counts(counts: Sequence[tuple[str, int, int]]) -> tuple[CampaignCounts, ...]:
    seen: set[str] = set()
    campaigns = []
    for campaign_id, successes, trials in counts:
        if campaign_id in seen:
            raise ValueError(f"Campaign {campaign_id!r} appears more than once in the counts.")
        seen.add(campaign_id)
        if successes < 0 or trials < 0 or successes > trials:
            raise ValueError(
                f"Campaign {campaign_id!r} has invalid counts {successes}/{trials}: "
                "expected 0 <= successes <= trials."
            )
        campaigns.append(CampaignCounts(campaign_id, successes, trials, rate(successes, trials)))
    return tuple(campaigns)


def _untestable_reason(
    metric: str, definition: MetricDefinition, campaigns: Sequence[CampaignCounts]
) -> str | None:
    """Return why no test is defined for these counts, or None when the test can run."""
    if len(campaigns) < 2:
        return f"Comparing {metric} needs at least two campaigns, got {len(campaigns)}."

    empty = [campaign.campaign_id for campaign in campaigns if campaign.trials == 0]
    if empty:
        label = "campaign" if len(empty) == 1 else "campaigns"
        names = ", ".join(repr(campaign_id) for campaign_id in empty)
        return (
            f"{definition.denominator} is 0 for {label} {names}, so {metric} is undefined "
            "there and no test can run."
        )

    if all(campaign.successes == 0 for campaign in campaigns):
        return (
            f"{definition.numerator} is 0 for every campaign, so {metric} is 0 everywhere "
            "and the test is undefined."
        )
    if all(campaign.successes == campaign.trials for campaign in campaigns):
        return f"{metric} is 100 % for every campaign, so the test is undefined."
    return None


def _untestable_pair_reason(metric: str, leader: CampaignCounts, other: CampaignCounts) -> str | None:
    if leader.successes == 0 and other.successes == 0:
        return f"{metric} is 0 % for both campaigns, so the pairwise test is undefined."
    if leader.successes == leader.trials and other.successes == other.trials:
        return f"{metric} is 100 % for both campaigns, so the pairwise test is undefined."
    return None


def _test_pair(first: CampaignCounts, second: CampaignCounts) -> tuple[TestName, float]:
    """Run the two-proportion test on a 2x2 table whose row and column totals are all positive."""
    table = np.array(
        [
            [first.successes, first.trials - first.successes],
            [second.successes, second.trials - second.successes],
        ],
        dtype=np.int64,
    )
    if expected_freq(table).min() >= MIN_EXPECTED_COUNT:
        return "chi_square", float(chi2_contingency(table, correction=False).pvalue)
    return "fisher_exact", float(fisher_exact(table, alternative="two-sided").pvalue)


def _difference(
    campaign: CampaignCounts, baseline: CampaignCounts, confidence_level: float
) -> Difference:
    """Return the rate difference with Newcombe's hybrid score interval.

    With Wilson intervals (l1, u1) and (l2, u2) of the proportions p1 and p2, the bounds are
    d - sqrt((p1 - l1)^2 + (u2 - p2)^2) and d + sqrt((u1 - p1)^2 + (p2 - l2)^2) for
    d = p1 - p2. Both campaigns need trials.
    """
    # The point estimates use exact fractions, so 60/200 - 40/200 is 10.0 points, not 9.999...
    exact_difference = _proportion(campaign) - _proportion(baseline)
    exact_baseline = _proportion(baseline)
    relative = None if exact_baseline == 0 else float(100 * exact_difference / exact_baseline)

    p_campaign = campaign.successes / campaign.trials
    p_baseline = baseline.successes / baseline.trials
    low_campaign, high_campaign = _wilson_interval(campaign, confidence_level)
    low_baseline, high_baseline = _wilson_interval(baseline, confidence_level)
    absolute = p_campaign - p_baseline
    ci_lower = absolute - math.hypot(p_campaign - low_campaign, high_baseline - p_baseline)
    ci_upper = absolute + math.hypot(high_campaign - p_campaign, p_baseline - low_baseline)

    return Difference(
        campaign_id=campaign.campaign_id,
        baseline_id=baseline.campaign_id,
        absolute=float(100 * exact_difference),
        relative=relative,
        ci_lower=100 * ci_lower,
        ci_upper=100 * ci_upper,
        confidence_level=confidence_level,
    )


def _wilson_interval(campaign: CampaignCounts, confidence_level: float) -> tuple[float, float]:
    interval = binomtest(campaign.successes, campaign.trials).proportion_ci(
        confidence_level=confidence_level, method="wilson"
    )
    return float(interval.low), float(interval.high)


def _proportion(campaign: CampaignCounts) -> Fraction:
    # Exact fractions, so that equal rates compare equal and ties are never missed.
    return Fraction(campaign.successes, campaign.trials)


def _find_leader(campaigns: Sequence[CampaignCounts], lower_is_better: bool) -> CampaignCounts:
    """Return the campaign with the best rate, the first in input order among equal rates."""
    if lower_is_better:
        return min(campaigns, key=_proportion)
    return max(campaigns, key=_proportion)


def _other_of_two(campaigns: Sequence[CampaignCounts], chosen: CampaignCounts) -> CampaignCounts:
    first, second = campaigns
    return second if chosen is first else first
