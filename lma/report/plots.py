"""The report's figures, drawn with matplotlib's Agg backend and returned as PNG bytes.

Each function takes the run's summaries or results and the agents/envs in run order, so an agent
keeps its colour across every figure. Figures degrade gracefully: an agent with no model has zero
tokens (shown at the left edge of a symlog axis); cost gets two plots, USD for priced models and
model seconds for local ones, each only when some agent has it; a group whose success is unknown
has no bar and no point.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np

from lma.core import EpisodeResult
from lma.errors import LmaError
from lma.report.stats import Summary

MARKERS = "osD^vP*Xh<>"


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise LmaError("lma report needs matplotlib: pip install 'lma[report]'") from None

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({
        "font.size": 10, "axes.spines.top": False, "axes.spines.right": False, "axes.grid": True,
        "grid.alpha": 0.3, "axes.axisbelow": True, "legend.frameon": False, "figure.dpi": 110,
    })
    return plt


def colours(agents: Sequence[str]) -> dict[str, str]:
    """A stable colour per agent (matplotlib's tab10 order), also used by the HTML table."""
    palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
               "#bcbd22", "#17becf"]
    return {a: palette[i % len(palette)] for i, a in enumerate(agents)}


def short_env(env: str) -> str:
    return env.rsplit("/", 1)[-1].removesuffix("-v0")


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    fig.clf()
    import matplotlib.pyplot as plt

    plt.close(fig)
    return buf.getvalue()


def success_by_env(summaries: Sequence[Summary], agents: Sequence[str], envs: Sequence[str]) -> bytes:
    """Grouped bars: success rate of each agent on each env, with 95% Wilson error bars."""
    plt = _pyplot()
    by = {(s.agent, s.env): s for s in summaries}
    fig, ax = plt.subplots(figsize=(max(5.5, 1.4 * len(envs) * max(1, len(agents)) / 2.2), 3.4))
    width = 0.8 / max(1, len(agents))
    colour = colours(agents)
    x = np.arange(len(envs))
    for i, agent in enumerate(agents):
        groups = [by.get((agent, env)) for env in envs]
        rows = [s if s and s.success_rate is not None else None for s in groups]  # unknown: no bar
        rate = [100 * s.success_rate if s else 0 for s in rows]
        low = [100 * (s.success_rate - s.ci_low) if s else 0 for s in rows]
        high = [100 * (s.ci_high - s.success_rate) if s else 0 for s in rows]
        pos = x - 0.4 + width * (i + 0.5)
        ax.bar(pos, rate, width * 0.9, color=colour[agent], label=agent, yerr=[low, high], capsize=3,
               error_kw={"elinewidth": 1, "ecolor": "#333"})
        for p, r, s, group in zip(pos, rate, rows, groups):
            if s or group:
                ax.text(p, 2, f"{r:.0f}" if s else "?", ha="center", va="bottom", fontsize=8,
                        color="white" if r > 12 else "#333")
    ax.set_xticks(x, [short_env(e) for e in envs])
    ax.set_ylim(0, 105)
    ax.set_ylabel("success (%)")
    ax.set_title("Success rate by env (bars: 95% Wilson interval; ?: unknown)", loc="left", fontsize=11)
    ax.legend(ncol=min(len(agents), 6), loc="upper center", bbox_to_anchor=(0.5, -0.12))
    return _png(fig)


PANELS = {"tokens": "tokens per episode (in + out)", "usd": "USD per episode (priced models)",
          "seconds": "model seconds per episode (local models)"}


def cost_panels(summaries: Sequence[Summary]) -> list[str]:
    """The plots of :func:`success_vs_cost`: tokens always; dollars where a price gave a non-zero
    cost; seconds where a local model ran. Dollars and seconds never share an axis."""
    panels = ["tokens"]
    if any(s.cost_per_episode and not s.local for s in summaries):
        panels.append("usd")
    if any(s.local for s in summaries):
        panels.append("seconds")
    return panels


def _cost(s: Summary, kind: str) -> float | None:
    """What one summary costs on one panel, or None where it has no point there."""
    if kind == "tokens":
        return s.tokens_in_mean + s.tokens_out_mean
    if kind == "usd":
        return None if s.local else s.cost_per_episode
    return s.model_seconds_mean if s.local else None


def success_vs_cost(summaries: Sequence[Summary], agents: Sequence[str], envs: Sequence[str]) -> bytes:
    """Success against mean tokens per episode, and against cost: USD for priced models and model
    seconds for local ones, each on its own plot (:func:`cost_panels`)."""
    plt = _pyplot()
    rows = [s for s in summaries if s.env in envs and s.success_rate is not None]
    panels = cost_panels(rows)
    fig, axes = plt.subplots(1, len(panels), figsize=(5.6 * len(panels), 3.4), squeeze=False)
    colour = colours(agents)
    marker = {env: MARKERS[i % len(MARKERS)] for i, env in enumerate(envs)}
    for ax, kind in zip(axes[0], panels):
        for s in rows:
            value = _cost(s, kind)
            if value is None:
                continue
            ax.scatter(value, 100 * (s.success_rate or 0), s=60, color=colour.get(s.agent, "#777"),
                       marker=marker[s.env], edgecolor="white", linewidth=0.8, zorder=3, clip_on=False)
        ax.set_xscale("symlog", linthresh={"tokens": 10, "usd": 1e-4, "seconds": 0.1}[kind])
        ax.set_xlim(left=-0.5 if kind == "tokens" else 0)
        ax.set_ylim(-5, 105)
        ax.set_xlabel(PANELS[kind])
        ax.set_ylabel("success (%)")
    axes[0][0].set_title("Success vs what it costs", loc="left", fontsize=11)
    handles = [plt.Line2D([], [], color=colour[a], marker="o", linestyle="", label=a) for a in agents]
    handles += [plt.Line2D([], [], color="#555", marker=marker[e], linestyle="", label=short_env(e)) for e in envs]
    fig.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=min(len(handles), 4))
    return _png(fig)


def steps_distribution(results: Sequence[EpisodeResult], agents: Sequence[str], envs: Sequence[str]) -> bytes:
    """Box plots of steps per episode, agent by agent within each env; dots are episodes (filled: success)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(5.6, 0.5 * len(envs) * max(1, len(agents))), 3.4))
    colour = colours(agents)
    width = 0.8 / max(1, len(agents))
    rng = np.random.default_rng(0)
    for j, env in enumerate(envs):
        for i, agent in enumerate(agents):
            eps = [r for r in results if r.agent == agent and r.env == env]
            if not eps:
                continue
            pos = j - 0.4 + width * (i + 0.5)
            steps = [r.steps for r in eps]
            box = ax.boxplot(steps, positions=[pos], widths=width * 0.75, patch_artist=True, showfliers=False)
            for patch in box["boxes"]:
                patch.set(facecolor=colour[agent], alpha=0.35, edgecolor=colour[agent])
            for part in ("medians", "whiskers", "caps"):
                for line in box[part]:
                    line.set(color=colour[agent])
            jitter = rng.uniform(-width * 0.25, width * 0.25, len(eps))
            ax.scatter(pos + jitter, steps, s=12, zorder=3, color=[colour[agent] if r.success else "white" for r in eps],
                       edgecolor=colour[agent], linewidth=0.8)
    ax.set_xticks(range(len(envs)), [short_env(e) for e in envs])
    from matplotlib.ticker import MaxNLocator

    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlim(-0.6, len(envs) - 0.4)
    ax.set_ylabel("steps per episode")
    ax.set_title("Steps per episode (filled dots: successful episodes)", loc="left", fontsize=11)
    handles = [plt.Line2D([], [], color=colour[a], marker="s", linestyle="", label=a) for a in agents]
    ax.legend(handles=handles, ncol=min(len(agents), 6), loc="upper center", bbox_to_anchor=(0.5, -0.12))
    return _png(fig)
