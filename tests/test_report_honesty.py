"""The report says what it does not know: unknown success is not 0%, a local model is not "free"
(its cost is its seconds), and model errors are counted per agent."""

from __future__ import annotations

import io

import pytest
from PIL import Image
from test_evaluate import lma, only_run

from lma.core import EpisodeResult
from lma.report import html, plots
from lma.report.stats import ALL_ENVS, compare, summarize


def ep(agent: str, seed: int, success: bool | None, env: str = "e", **kw) -> EpisodeResult:
    return EpisodeResult(f"{agent}__{env}__s{seed}", env, agent, seed, success=success, **kw)


def test_unknown_success_is_carried_not_counted_as_failure():
    results = [ep("A", 0, None), ep("A", 1, None), ep("A", 0, True, env="f"), ep("A", 1, None, env="f"),
               ep("B", 0, True), ep("B", 1, False)]
    by = {(s.agent, s.env): s for s in summarize(results)}
    unknown, partial, pooled = by[("A", "e")], by[("A", "f")], by[("A", ALL_ENVS)]
    assert (unknown.n, unknown.unknown, unknown.successes, unknown.success_rate) == (2, 2, 0, None)
    assert (partial.unknown, partial.success_rate) == (1, 1.0)
    assert (pooled.n, pooled.unknown, pooled.success_rate) == (4, 3, 1.0)
    assert by[("B", "e")].success_rate == 0.5
    c = compare(results, "A", "B", "e")
    assert c.pairs == 0 and c.verdict() == "no paired episodes"  # unknown outcomes are not pairs
    table = html.side_by_side(list(by.values()), ["A", "B"], ["e", "f"])
    glance = html.glance(list(by.values()), ["A", "B"], ["e", "f"], {})
    for text in (table, glance):
        assert "unknown" in text
    row_a_e = table.split("</tr>")[1]
    assert ">0%" not in row_a_e and "unknown" in row_a_e
    assert "1 of 2 unknown" in glance
    png = plots.success_by_env(list(by.values()), ["A", "B"], ["e", "f"])
    assert png.startswith(b"\x89PNG")


def test_a_local_model_costs_its_seconds_and_a_priced_one_dollars():
    results = [ep("local", 0, True, tokens_in=900, tokens_out=20, model_seconds=12.5),
               ep("local", 1, False, tokens_in=700, tokens_out=20, model_seconds=7.5),
               ep("api", 0, True, tokens_in=1000, tokens_out=100, model_seconds=2.0),
               ep("api", 1, True, tokens_in=1000, tokens_out=100, model_seconds=2.0),
               ep("expert", 0, True), ep("expert", 1, True)]
    models = {"local": "llamacpp:smollm2-135m", "api": "openai:http://127.0.0.1:8000/v1#m", "expert": None}
    prices = {"openai:http://127.0.0.1:8000/v1#m": {"input": 2.0, "output": 10.0}}
    by = {s.agent: s for s in summarize(results, models, prices)}
    assert by["local"].local and by["local"].model_seconds_mean == 10.0
    assert html.cost_text(by["local"]) == "10.0 s model time"
    assert html.cost_text(by["api"]) == "$0.0030"
    assert html.cost_text(by["expert"]) == "no model"
    table = html.side_by_side(list(by.values()), list(by), ["e"])
    assert "free" not in table and "10.0 s model time" in table
    assert plots.cost_panels(list(by.values())) == ["tokens", "usd", "seconds"]
    assert plots.cost_panels([by["local"], by["expert"]]) == ["tokens", "seconds"]
    assert plots.cost_panels([by["expert"]]) == ["tokens"]
    both = Image.open(io.BytesIO(plots.success_vs_cost(list(by.values()), list(by), ["e"])))
    one = Image.open(io.BytesIO(plots.success_vs_cost([by["expert"]], ["expert"], ["e"])))
    assert both.width > 2.5 * one.width  # dollars and seconds on separate plots, never on one axis


def test_model_errors_are_counted_per_agent():
    results = [ep("A", 0, False, error="ModelError: http://127.0.0.1:9/v1 cannot be reached"),
               ep("A", 1, False, error="RuntimeError: simulator exploded"), ep("A", 2, True)]
    (s,) = summarize(results, {"A": "openai:http://127.0.0.1:9/v1#x"})
    assert (s.errors, s.model_errors) == (2, 1)
    table = html.side_by_side([s], ["A"], ["e"])
    assert "model errors" in table and ">1<" in table.split("</tr>")[1]


@pytest.fixture(scope="module")
def pendulum_run(tmp_path_factory):
    """random on Pendulum, which no rule covers: every episode's success is unknown."""
    root = tmp_path_factory.mktemp("pendulum")
    proc = lma("eval", "--agents", "random", "--envs", "Pendulum-v1", "--episodes", "2", "--max-steps", "3",
               "--no-frames", "--out", str(root / "runs"))
    assert proc.returncode == 0, proc.stderr
    return only_run(root / "runs")


def test_a_run_of_unknown_outcomes_reports_unknown_end_to_end(pendulum_run):
    proc = lma("report", str(pendulum_run))
    assert proc.returncode == 0, proc.stderr
    md = (pendulum_run / "report.md").read_text()
    page = (pendulum_run / "report.html").read_text()
    assert "unknown" in md and "| 0%" not in md
    assert "unknown" in page and "<b>0%</b>" not in page


def test_every_model_error_type_is_known_to_the_count():
    import lma.models.json_grammar  # the modules that define ModelError's subclasses)
    import lma.models.openai_compat  # noqa: F401
    from lma.models.base import ModelError
    from lma.report.stats import MODEL_ERRORS

    def names(cls: type) -> set[str]:
        return {cls.__name__}.union(*(names(sub) for sub in cls.__subclasses__()))

    assert names(ModelError) <= set(MODEL_ERRORS)
