"""Statistics of an evaluation: per agent x env summaries, and paired comparisons between agents.

What a user must know:

* :func:`summarize` groups :class:`lma.core.EpisodeResult` rows by (agent, env) and gives the
  success rate with a 95% Wilson interval (sound for small n and for rates of 0 or 1, where the
  normal approximation collapses), means of return, steps, tokens, model seconds and wall time,
  the cost in USD, the number of episodes that ended in an error and of those the model caused,
  and the env's own metrics (``EpisodeResult.metrics``: means of numbers, rates of booleans;
  nested dicts are flattened as ``outer.inner``, so Crafter's achievements or WebQA's scores need
  no special case).
* An episode whose success is None (the env cannot tell: a wrapped Gymnasium env with no rule)
  counts as neither: the rate and interval are over the episodes with a known outcome, ``unknown``
  counts the others, and a group with no known outcome has no rate (None), not 0%.
* Cost uses prices in USD per million tokens, per model spec: ``{"openai:gpt-4o": {"input": 2.5,
  "output": 10}}``. A model with no price bills no dollars when it runs locally (llamacpp,
  transformers, scripted), but it is not free: its cost is its model seconds (``local``); a remote
  model with no price has an unknown cost (``None``).
* :func:`compare` pairs two agents' episodes on the same (env, seed) — lma eval gives every agent
  the same seeds for this — and tests the success difference with the exact McNemar test (only
  the discordant pairs carry information) and the return difference with a paired bootstrap.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lma.core import EpisodeResult

LOCAL_BACKENDS = ("llamacpp", "transformers", "scripted")
ALL_ENVS = "all envs"
# How lma.errors.describe_error names lma.models.ModelError and its subclasses on an episode.
MODEL_ERRORS = ("ModelError", "SchemaGrammarError", "_Answered", "_Rejected")


def wilson_interval(successes: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """The Wilson score interval for a binomial proportion (95% by default); (0, 1) when n is 0."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, min(p, centre - half)), min(1.0, max(p, centre + half))  # rounding must not exclude p


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value from the discordant counts ``b`` and ``c``.

    Under the null hypothesis each discordant pair favours either agent with probability 1/2, so
    ``min(b, c)`` is Binomial(b + c, 1/2) and the p-value is twice its lower tail (capped at 1).
    """
    n = b + c
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(b, c) + 1)) / 2**n
    return min(1.0, 2 * tail)


def paired_bootstrap(diffs: Iterable[float], *, resamples: int = 10_000, seed: int = 0) -> tuple[float, float, float]:
    """Mean of paired differences and its 95% percentile-bootstrap interval, seeded (reproducible)."""
    d = np.asarray(list(diffs), dtype=float)
    if d.size == 0:
        return 0.0, 0.0, 0.0
    rng = np.random.default_rng(seed)
    means = d[rng.integers(0, d.size, size=(resamples, d.size))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return float(d.mean()), float(low), float(high)


def is_local(model: str | None, prices: Mapping[str, Mapping[str, float]]) -> bool:
    """Whether ``model`` runs here with no price given: its cost is then its seconds, not dollars."""
    return model is not None and model not in prices and model.split(":", 1)[0] in LOCAL_BACKENDS


def is_model_error(error: str | None) -> bool:
    """Whether an episode's error came from its model (unreachable, refused, no usable answer)."""
    return bool(error) and error.split(":", 1)[0] in MODEL_ERRORS


def model_cost(model: str | None, tokens_in: int, tokens_out: int,
               prices: Mapping[str, Mapping[str, float]]) -> float | None:
    """USD for the tokens of one model; see the module docstring for models without a price."""
    if model is None or (tokens_in == 0 and tokens_out == 0):
        return 0.0
    price = prices.get(model)
    if price is None:
        return 0.0 if model.split(":", 1)[0] in LOCAL_BACKENDS else None
    return (tokens_in * float(price.get("input", 0)) + tokens_out * float(price.get("output", 0))) / 1e6


def flatten_metrics(metrics: Mapping[str, Any], prefix: str = "") -> dict[str, float | bool]:
    """Numbers and booleans of a (nested) metrics dict under dotted names; other values are dropped."""
    flat: dict[str, float | bool] = {}
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten_metrics(value, name + "."))
        elif isinstance(value, bool) or (isinstance(value, (int, float)) and math.isfinite(value)):
            flat[name] = value
    return flat


def aggregate_metrics(rows: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """``{name: {"value": mean or rate, "kind": "mean" | "rate", "n": episodes that had it}}``."""
    seen: dict[str, list[float | bool]] = defaultdict(list)
    for metrics in rows:
        for name, value in flatten_metrics(metrics).items():
            seen[name].append(value)
    out = {}
    for name, values in sorted(seen.items()):
        rate = all(isinstance(v, bool) for v in values)
        out[name] = {"value": float(np.mean([float(v) for v in values])), "kind": "rate" if rate else "mean",
                     "n": len(values)}
    return out


def in_run_order(results: Iterable[EpisodeResult], agents: list[str], envs: list[str]) -> list[EpisodeResult]:
    """Results sorted env by env, agent by agent (the run's order; others last), then by seed."""
    rank_a, rank_e = {a: i for i, a in enumerate(agents)}, {e: i for i, e in enumerate(envs)}
    return sorted(results, key=lambda r: (rank_e.get(r.env, len(envs)), r.env, rank_a.get(r.agent, len(agents)),
                                          r.agent, r.seed))


@dataclass
class Summary:
    """One agent on one env (or on all envs, ``env == ALL_ENVS``)."""

    agent: str
    env: str
    n: int
    successes: int
    ci_low: float
    ci_high: float
    return_mean: float
    steps_mean: float
    tokens_in_mean: float
    tokens_out_mean: float
    model_seconds_mean: float
    seconds_mean: float
    cost: float | None
    errors: int
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)
    unknown: int = 0  # episodes whose env could not tell success
    model_errors: int = 0  # of ``errors``, those the model caused
    model: str | None = None
    local: bool = False  # a local model with no price: its cost is ``model_seconds_mean``

    @property
    def known(self) -> int:
        """Episodes with a known outcome: what the rate and its interval are over."""
        return self.n - self.unknown

    @property
    def success_rate(self) -> float | None:
        """Successes over the episodes with a known outcome; None when there are none."""
        return self.successes / self.known if self.known else None

    @property
    def latency_per_step(self) -> float:
        """Mean model seconds per step (a step may hold several model calls: retries, memory tools)."""
        return self.model_seconds_mean / self.steps_mean if self.steps_mean else 0.0

    @property
    def cost_per_episode(self) -> float | None:
        return None if self.cost is None or not self.n else self.cost / self.n


def summarize_group(agent: str, env: str, results: list[EpisodeResult], model: str | None = None,
                    prices: Mapping[str, Mapping[str, float]] | None = None) -> Summary:
    """The :class:`Summary` of one group of episodes."""
    n, unknown = len(results), sum(r.success is None for r in results)
    successes = sum(r.success is True for r in results)
    low, high = wilson_interval(successes, n - unknown)
    tokens_in, tokens_out = sum(r.tokens_in for r in results), sum(r.tokens_out for r in results)

    def mean(values: Iterable[float]) -> float:
        values = list(values)
        return float(np.mean(values)) if values else 0.0

    return Summary(
        agent, env, n, successes, low, high,
        return_mean=mean(r.return_ for r in results),
        steps_mean=mean(r.steps for r in results),
        tokens_in_mean=mean(r.tokens_in for r in results),
        tokens_out_mean=mean(r.tokens_out for r in results),
        model_seconds_mean=mean(r.model_seconds for r in results),
        seconds_mean=mean(r.seconds for r in results),
        cost=model_cost(model, tokens_in, tokens_out, prices or {}),
        errors=sum(bool(r.error) for r in results),
        metrics=aggregate_metrics(r.metrics for r in results),
        unknown=unknown,
        model_errors=sum(is_model_error(r.error) for r in results),
        model=model,
        local=is_local(model, prices or {}),
    )


def summarize(results: Iterable[EpisodeResult], models: Mapping[str, str | None] | None = None,
              prices: Mapping[str, Mapping[str, float]] | None = None) -> list[Summary]:
    """Per (agent, env) summaries, then one ``ALL_ENVS`` row per agent when there are several envs.

    ``models`` maps an agent's name to its model spec (for cost); order follows first appearance.
    """
    groups: dict[tuple[str, str], list[EpisodeResult]] = defaultdict(list)
    for r in results:
        groups[(r.agent, r.env)].append(r)
    models = models or {}
    rows = [summarize_group(a, e, rs, models.get(a), prices) for (a, e), rs in groups.items()]
    envs = {e for _, e in groups}
    if len(envs) > 1:
        agents = dict.fromkeys(a for a, _ in groups)
        for agent in agents:
            pooled = [r for (a, _), rs in groups.items() if a == agent for r in rs]
            rows.append(summarize_group(agent, ALL_ENVS, pooled, models.get(agent), prices))
    return rows


@dataclass
class Comparison:
    """Agent ``a`` against agent ``b`` on the (env, seed) pairs both ran."""

    a: str
    b: str
    env: str
    pairs: int
    both: int
    a_only: int
    b_only: int
    neither: int
    p_value: float
    return_diff: float
    return_ci: tuple[float, float]

    @property
    def success_diff(self) -> float:
        """Success rate of ``a`` minus that of ``b`` over the pairs."""
        return (self.a_only - self.b_only) / self.pairs if self.pairs else 0.0

    def significant(self, alpha: float = 0.05) -> bool:
        return self.p_value < alpha

    def verdict(self, alpha: float = 0.05) -> str:
        """A sentence a reader can act on."""
        if not self.pairs:
            return "no paired episodes"
        if not self.significant(alpha):
            return f"no significant difference in success (p={self.p_value:.3g})"
        better = self.a if self.a_only > self.b_only else self.b
        return f"{better} succeeds more often (p={self.p_value:.3g})"


def compare(results: Iterable[EpisodeResult], a: str, b: str, env: str | None = None) -> Comparison:
    """Pair ``a``'s and ``b``'s episodes by (env, seed), on one env or (``env=None``) on all; an
    episode of unknown outcome makes no pair."""
    by_key: dict[tuple[str, str, int], EpisodeResult] = {}
    for r in results:
        if (env is None or r.env == env) and r.success is not None:
            by_key[(r.agent, r.env, r.seed)] = r
    pairs = [(ra, by_key[(b, e, s)]) for (agent, e, s), ra in by_key.items() if agent == a and (b, e, s) in by_key]
    both = sum(x.success and y.success for x, y in pairs)
    a_only = sum(x.success and not y.success for x, y in pairs)
    b_only = sum(y.success and not x.success for x, y in pairs)
    mean, low, high = paired_bootstrap(x.return_ - y.return_ for x, y in pairs)
    return Comparison(a, b, env or ALL_ENVS, len(pairs), both, a_only, b_only, len(pairs) - both - a_only - b_only,
                      mcnemar_exact(a_only, b_only), mean, (low, high))


def compare_all(results: list[EpisodeResult], agents: list[str], envs: list[str]) -> list[Comparison]:
    """Every pair of agents, on each env and (with several envs) on all envs pooled."""
    scopes: list[str | None] = list(envs) + ([None] if len(envs) > 1 else [])
    return [compare(results, a, b, env) for i, a in enumerate(agents) for b in agents[i + 1 :] for env in scopes]
