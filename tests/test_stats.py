"""Statistics against values worked out by hand (and by scipy where it is installed)."""

from __future__ import annotations

import math

import pytest

from lma.core import EpisodeResult
from lma.report.stats import (
    ALL_ENVS,
    compare,
    compare_all,
    flatten_metrics,
    mcnemar_exact,
    model_cost,
    paired_bootstrap,
    summarize,
    wilson_interval,
)


def ep(agent: str, seed: int, success: bool, env: str = "e", **kw) -> EpisodeResult:
    return EpisodeResult(f"{agent}__{env}__s{seed}", env, agent, seed, success=success, **kw)


def test_wilson_interval_matches_hand_computed_values():
    # 0/10: the upper bound is z^2 / (n + z^2) = 3.8415 / 13.8415.
    low, high = wilson_interval(0, 10)
    assert low == 0 and high == pytest.approx(0.27753, abs=1e-4)
    assert wilson_interval(5, 10) == pytest.approx((0.23659, 0.76341), abs=1e-4)
    assert wilson_interval(10, 10) == pytest.approx((1 - 0.27753, 1.0), abs=1e-4)
    assert wilson_interval(0, 0) == (0.0, 1.0)


@pytest.mark.parametrize(
    "b, c, p",
    [
        (1, 9, 2 * (1 + 10) / 2**10),  # 0.021484375
        (0, 6, 2 / 2**6),
        (2, 10, 2 * (1 + 12 + 66) / 2**12),
        (5, 5, 1.0),  # the doubled tail exceeds 1 and is capped
        (0, 0, 1.0),  # no discordant pairs: no evidence either way
    ],
)
def test_exact_mcnemar_on_known_tables(b, c, p):
    assert mcnemar_exact(b, c) == pytest.approx(p, rel=1e-12)
    assert mcnemar_exact(c, b) == pytest.approx(p, rel=1e-12)


def test_exact_mcnemar_agrees_with_scipy():
    stats = pytest.importorskip("scipy.stats")
    for b, c in [(3, 11), (7, 2), (0, 13), (20, 31)]:
        assert mcnemar_exact(b, c) == pytest.approx(stats.binomtest(b, b + c, 0.5).pvalue, rel=1e-9)


def test_paired_comparison_counts_only_pairs_on_the_same_env_and_seed():
    # 15 seeds: both succeed on 3, only A on 1, only B on 9, neither on 2.
    outcomes = [(1, 1)] * 3 + [(1, 0)] * 1 + [(0, 1)] * 9 + [(0, 0)] * 2
    results = []
    for seed, (a, b) in enumerate(outcomes):
        results += [ep("A", seed, bool(a), return_=float(a)), ep("B", seed, bool(b), return_=float(b))]
    results.append(ep("A", 99, True))  # no partner: not a pair
    results.append(ep("B", 0, True, env="other"))  # another env: not a pair on env "e"
    c = compare(results, "A", "B", env="e")
    assert (c.pairs, c.both, c.a_only, c.b_only, c.neither) == (15, 3, 1, 9, 2)
    assert c.p_value == pytest.approx(0.021484375)
    assert c.significant() and "B succeeds more often" in c.verdict()
    assert c.success_diff == pytest.approx(-8 / 15)
    assert c.return_diff == pytest.approx(-8 / 15)
    assert c.return_ci[0] < c.return_diff < c.return_ci[1] < 0  # the bootstrap interval excludes 0 here


def test_no_difference_is_not_significant():
    results = [ep(a, s, s % 2 == 0) for s in range(10) for a in ("A", "B")]
    c = compare(results, "A", "B")
    assert (c.a_only, c.b_only, c.p_value) == (0, 0, 1.0)
    assert "no significant difference" in c.verdict()


def test_paired_bootstrap_is_seeded_and_brackets_the_mean():
    diffs = [0.5, -0.2, 0.1, 0.9, 0.0, 0.3, -0.4, 0.6]
    first, again = paired_bootstrap(diffs), paired_bootstrap(diffs)
    assert first == again
    mean, low, high = first
    assert mean == pytest.approx(sum(diffs) / len(diffs)) and low < mean < high
    assert paired_bootstrap([1.0] * 5) == (1.0, 1.0, 1.0)


def test_costs_use_prices_per_million_tokens():
    prices = {"openai:gpt-4o": {"input": 2.5, "output": 10.0}}
    assert model_cost("openai:gpt-4o", 1_000_000, 100_000, prices) == pytest.approx(3.5)
    assert model_cost("llamacpp:smollm2-135m", 5000, 50, prices) == 0.0  # local compute is not billed
    assert model_cost("openai:unknown", 10, 10, prices) is None  # no price, no made-up number
    assert model_cost(None, 0, 0, prices) == 0.0


def test_summaries_aggregate_env_metrics_generically():
    assert flatten_metrics({"crashed": True, "achievements": {"wood": 2, "table": 0}, "name": "x", "nan": math.nan}) == {
        "crashed": True, "achievements.wood": 2, "achievements.table": 0}
    results = [
        ep("A", 0, True, return_=1.0, steps=4, tokens_in=100, tokens_out=10, metrics={"crashed": False, "speed": 20.0}),
        ep("A", 1, False, return_=0.0, steps=8, tokens_in=300, tokens_out=30, error="boom",
           metrics={"crashed": True, "speed": 10.0}),
        ep("A", 0, True, env="f", steps=2, metrics={"acc": 0.5, "retrieval_f1": 1.0}),
    ]
    rows = summarize(results, {"A": "openai:gpt-4o"}, {"openai:gpt-4o": {"input": 1.0, "output": 2.0}})
    by = {(s.agent, s.env): s for s in rows}
    e = by[("A", "e")]
    assert (e.n, e.successes, e.errors) == (2, 1, 1)
    assert (e.return_mean, e.steps_mean, e.tokens_in_mean, e.tokens_out_mean) == (0.5, 6.0, 200.0, 20.0)
    assert e.metrics["crashed"] == {"value": 0.5, "kind": "rate", "n": 2}
    assert e.metrics["speed"] == {"value": 15.0, "kind": "mean", "n": 2}
    assert e.cost == pytest.approx((400 * 1.0 + 40 * 2.0) / 1e6)
    pooled = by[("A", ALL_ENVS)]
    assert pooled.n == 3 and pooled.successes == 2 and set(pooled.metrics) == {"crashed", "speed", "acc", "retrieval_f1"}
    assert len(compare_all(results, ["A"], ["e", "f"])) == 0
