"""A run's report: ``report.md`` and a self-contained ``report.html`` (``lma report RUN_DIR``).

What a user gets: which agent is better, where, and at what cost, at a glance (an agents x envs
matrix of success rates with 95% intervals), every number side by side (:mod:`lma.report.stats`), paired
tests between agents, three plots (:mod:`lma.report.plots`), and a page per episode with its
trajectory: each step's frame, what the perceiver passed on, the model's outputs, the tool call
and its result (:mod:`lma.report.html`). Works on ``lma eval`` and ``lma run`` folders, finished
or not (a partial run says how many episodes are in).

How it is written: the run's pages are computed before the first byte is written, and every
file is written to a temporary name and renamed into place, episode pages first and
``report.html`` last, so a failure never leaves a half-written report (a failed rerun leaves the
previous one). Plots are embedded in the HTML as data
URIs and also saved under ``report-files/`` for the Markdown.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from lma.core import EpisodeResult
from lma.run.recording import RunDir, read_jsonl
from lma.errors import LmaError

PLOTS = {"success": "success by agent and env", "cost": "success vs tokens and cost", "steps": "steps per episode"}


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename: readers see all or nothing."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data.encode() if isinstance(data, str) else data)
    os.replace(tmp, path)


def run_layout(config: dict[str, Any], results: list[EpisodeResult]) -> tuple[list[str], list[str], int]:
    """Agents and envs in run order (then any others found in results), and the episodes planned."""
    agents = [a["label"] for a in config["agents"]]
    envs = list(config.get("envs", []))
    planned = len(agents) * len(envs) * len(config.get("seeds", []))
    ran_agents, ran_envs = {r.agent for r in results}, {r.env for r in results}
    agents = [a for a in dict.fromkeys(agents + [r.agent for r in results]) if a in ran_agents]
    envs = [e for e in dict.fromkeys(envs + [r.env for r in results]) if e in ran_envs]
    return agents, envs, max(planned, len(results))


def describe_agents(config: dict[str, Any]) -> dict[str, str]:
    """A one-line description per agent: its survey type and wiring, and its model."""
    from lma.run.evaluate import agent_models
    from lma.registry import agents as registry

    models = agent_models(config)
    out = {}
    for entry in config["agents"]:
        try:
            text = registry.spec(entry["name"]).description
        except LmaError:
            text = ""
        model = models.get(entry["label"])
        out[entry["label"]] = " · ".join(t for t in (text.split(":")[0] if text else "", model or "") if t)
    return out


def markdown(run: RunDir, layout: tuple, summaries: list, comparisons: list) -> str:
    from lma.report.html import cost_text, pct, rate
    from lma.report.stats import ALL_ENVS

    agents, envs, planned = layout
    by = {(s.agent, s.env): s for s in summaries}
    columns = list(envs) + ([ALL_ENVS] if any(s.env == ALL_ENVS for s in summaries) else [])
    n = sum(s.n for s in summaries if s.env != ALL_ENVS)
    lines = [f"# lma report: {run.path.name}", "",
             f"{n} of {planned} episodes: {', '.join(agents)} on {', '.join(envs)}.", "",
             "## Success rate (95% Wilson interval)", "",
             "| agent | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for a in agents:
        cells = [("unknown" if by[(a, e)].success_rate is None else
                  f"{pct(by[(a, e)].success_rate)} ({pct(by[(a, e)].ci_low)}–{pct(by[(a, e)].ci_high)})")
                 if (a, e) in by else "-" for e in columns]
        lines.append(f"| {a} | " + " | ".join(cells) + " |")
    lines += ["", "## Side by side", "", "| env | agent | n | success | return | steps | tokens in | tokens out | "
              "model s/step | wall s/ep | cost/ep | errors | model errors | env metrics |", "|---" * 14 + "|"]
    for s in summaries:
        metrics = ", ".join(f"{k} {v['value']:.3g}" for k, v in s.metrics.items())
        lines.append(f"| {s.env} | {s.agent} | {s.n} | {rate(s.success_rate)} | {s.return_mean:.2f} | {s.steps_mean:.1f} | "
                     f"{s.tokens_in_mean:.0f} | {s.tokens_out_mean:.0f} | {s.latency_per_step:.2f} | {s.seconds_mean:.1f} | "
                     f"{cost_text(s)} | {s.errors} | {s.model_errors} | {metrics} |")
    if comparisons:
        lines += ["", "## Paired comparisons (same env and seed)", "",
                  "| A vs B | env | pairs | only A won | only B won | McNemar p | Δ return [95% CI] | verdict |", "|---" * 8 + "|"]
        for c in comparisons:
            lines.append(f"| {c.a} vs {c.b} | {c.env} | {c.pairs} | {c.a_only} | {c.b_only} | {c.p_value:.3g} | "
                         f"{c.return_diff:+.2f} [{c.return_ci[0]:+.2f}, {c.return_ci[1]:+.2f}] | {c.verdict()} |")
    lines += ["", "## Plots", ""] + [f"![{title}](report-files/{name}.png)" for name, title in PLOTS.items()]
    lines += ["", "Per-episode trajectories: open `report.html`.", ""]
    return "\n".join(lines)


def html_report(run: RunDir, config: dict[str, Any], layout: tuple, summaries: list, comparisons: list,
                results: list[EpisodeResult], plots: dict[str, bytes], linked: bool = True) -> str:
    import yaml

    from lma.report import html as h

    agents, envs, planned = layout
    partial = f" <b>(unfinished: {len(results)} of {planned})</b>" if len(results) < planned else ""
    figures = "".join(f'<figure class="{"wide" if name == "success" else ""}"><img src="{h.data_uri(png)}" '
                      f'alt="{PLOTS[name]}"></figure>' for name, png in plots.items())
    body = (
        f"<h1>Agents side by side</h1><p class='sub'>Run <code>{h.escape(run.path.name)}</code> · {len(results)} episodes"
        f"{partial} · {len(agents)} agents · {len(envs)} envs · seeds {h.escape(_seed_span(config, results))}</p>"
        f"<section><h2>At a glance</h2>{h.glance(summaries, agents, envs, describe_agents(config))}"
        f"{h.findings(summaries, comparisons, agents, envs)}</section>"
        f"<section><h2>Plots</h2><div class='plots'>{figures}</div></section>"
        f"<section><h2>Side by side</h2>{h.side_by_side(summaries, agents, envs)}</section>"
        f"<section><h2>Paired comparisons</h2>{h.comparisons(comparisons)}</section>"
        f"<section><h2>Episodes</h2>{h.episode_index(results, agents, linked)}</section>"
        f"<section><h2>Config</h2><details><summary>config.yaml</summary>"
        f"<pre>{h.escape(yaml.safe_dump(config, sort_keys=False))}</pre></details></section>"
    )
    return h.page(f"lma report · {run.path.name}", body)


def _seed_span(config: dict[str, Any], results: list[EpisodeResult]) -> str:
    seeds = config.get("seeds") or sorted({r.seed for r in results})
    return f"{min(seeds)}–{max(seeds)}" if seeds else "-"


def episode_steps(run: RunDir, episode_id: str) -> list[dict[str, Any]]:
    return read_jsonl(run.path / "episodes" / episode_id / "trajectory.jsonl")


def render_episode(run: RunDir, episode_id: str, result: EpisodeResult | None = None,
                   prev_id: str | None = None, next_id: str | None = None) -> Path:
    """Write ``episodes/<id>/index.html`` for one episode (finished or cut off) and return its path."""
    from lma.report.html import episode_page

    steps = episode_steps(run, episode_id)
    if result is None:
        result = next((r for r in run.results() if r.episode_id == episode_id), None)
    if result is None:
        if not steps:
            raise LmaError(f"no episode {episode_id!r} in {run.path}")
        match = re.match(r"(.+?)__(.+)__s(-?\d+)$", episode_id)
        agent, env, seed = match.groups() if match else ("?", "?", "0")
        result = EpisodeResult(episode_id, env, agent, int(seed), steps=len(steps), error="not finished (no result line)")
    path = run.path / "episodes" / episode_id / "index.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, episode_page(result, steps, prev_id, next_id))
    return path


def episode_gif(run: RunDir, episode_id: str, fps: float = 4.0) -> Path:
    """Write ``episodes/<id>/episode.gif`` from the recorded frames and return its path."""
    from PIL import Image

    folder = run.path / "episodes" / episode_id
    frames = [folder / s["frame"] for s in episode_steps(run, episode_id) if s.get("frame")]
    frames = [f for f in frames if f.is_file()]
    if not frames:
        raise LmaError(f"episode {episode_id!r} has no recorded frames (was it run with --no-frames?)")
    images = [Image.open(f).convert("RGB") for f in frames]
    path = folder / "episode.gif"
    tmp = folder / f".episode.gif.{os.getpid()}.tmp"
    images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:], duration=int(1000 / fps), loop=0)
    os.replace(tmp, path)
    return path


def build(run_dir: str | Path, episodes: bool = True) -> Path:
    """Compute the whole report, then write it; returns the path of ``report.html``."""
    from lma.report import plots
    from lma.run.evaluate import agent_models
    from lma.report.stats import compare_all, in_run_order, summarize

    run = RunDir.open(run_dir)
    config = run.config()
    results = run.results()
    if not results:
        raise LmaError(f"{run.path} has no finished episodes yet (results.jsonl is empty)")
    layout = run_layout(config, results)
    agents, envs, _ = layout
    results = in_run_order(results, agents, envs)
    summaries = summarize(results, agent_models(config), config.get("prices") or {})
    comparisons = compare_all(results, agents, envs)
    figures = {"success": plots.success_by_env(summaries, agents, envs),
               "cost": plots.success_vs_cost(summaries, agents, envs),
               "steps": plots.steps_distribution(results, agents, envs)}
    md = markdown(run, layout, summaries, comparisons)
    html = html_report(run, config, layout, summaries, comparisons, results, figures, linked=episodes)

    files = run.path / "report-files"
    files.mkdir(exist_ok=True)
    for name, png in figures.items():
        write_atomic(files / f"{name}.png", png)
    if episodes:
        ids = [r.episode_id for r in results]
        for i, result in enumerate(results):
            render_episode(run, result.episode_id, result, ids[i - 1] if i else None,
                           ids[i + 1] if i + 1 < len(ids) else None)
    write_atomic(run.path / "report.md", md)
    write_atomic(run.path / "report.html", html)
    return run.path / "report.html"
