"""HTML for ``lma report``: the run's page (self-contained: inline CSS, plots as data URIs) and one
page per episode (``episodes/<id>/index.html``, beside the frames it shows).

Everything taken from a run (observations, model outputs, errors) is escaped: a model that writes
``<script>`` shows it as text. Pages use no JavaScript and no outside resources, so they open
offline, from a file, in any browser.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from html import escape
from typing import Any

from lma.report.plots import colours, short_env
from lma.report.stats import ALL_ENVS, Comparison, Summary

CSS = """
:root{--ink:#1f2933;--muted:#616e7c;--line:#e4e7eb;--bg:#f7f8fa;--ok:#15803d;--bad:#b91c1c}
*{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--ink);background:var(--bg)}
main{max-width:1180px;margin:0 auto;padding:24px 28px 48px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 10px;padding-bottom:4px;border-bottom:1px solid var(--line)}
.sub{color:var(--muted);margin:0 0 6px}a{color:#1d4ed8;text-decoration:none}a:hover{text-decoration:underline}
section{background:#fff;border:1px solid var(--line);border-radius:8px;padding:6px 18px 16px;margin-top:18px}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
th,td{padding:6px 9px;border-bottom:1px solid var(--line);text-align:right;vertical-align:top}
th{font-weight:600;color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.03em;background:#fafbfc}
td.l,th.l{text-align:left}tr.all td{font-weight:600;background:#fafbfc}
.sw{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:6px;vertical-align:baseline}
.cell{text-align:center;border-left:1px solid #fff}.cell b{font-size:17px;display:block}.cell small{color:#364152}
.best{outline:2px solid #111;outline-offset:-2px}
.bar{position:relative;height:7px;background:#eef0f3;border-radius:4px;margin-top:3px;min-width:90px}
.bar i{position:absolute;top:0;bottom:0;background:var(--ok);border-radius:4px}.bar u{position:absolute;top:-2px;bottom:-2px;border-left:2px solid #111;border-right:2px solid #111;opacity:.35}
.yes{color:var(--ok);font-weight:600}.no{color:var(--bad)}.err{color:var(--bad);font-size:12px}
.desc{color:var(--muted);font-size:12px}
.plots{display:grid;grid-template-columns:1fr 1fr;gap:8px 20px;align-items:start}.plots .wide{grid-column:1/-1}
figure{margin:10px 0}figure img{max-width:100%;height:auto;display:block;margin:0 auto}
table.glance td.l{width:30%}table.glance th{text-align:center}table.glance th.l{text-align:left}
ul.findings{margin:8px 0 4px;padding-left:20px}ul.findings li{margin:3px 0}
details pre,pre{background:#f3f4f6;border-radius:6px;padding:8px 10px;overflow:auto;font-size:12px;white-space:pre-wrap;margin:4px 0}
.verdict{font-size:12px}.sig{color:var(--ok);font-weight:600}
.step{display:grid;grid-template-columns:minmax(0,320px) 1fr;gap:16px;border-top:1px solid var(--line);padding:14px 0}
.step img{width:100%;image-rendering:pixelated;border:1px solid var(--line);border-radius:4px}
.step h3{margin:0 0 6px;font-size:14px}.k{color:var(--muted);font-size:12px;text-transform:uppercase;margin-top:8px}
.badges span{display:inline-block;background:#eef2ff;border-radius:12px;padding:2px 10px;margin:2px 4px 2px 0;font-size:12px}
code{background:#f3f4f6;border-radius:4px;padding:1px 5px}
"""


def page(title: str, body: str) -> str:
    return (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><meta name="viewport" '
            f'content="width=device-width,initial-scale=1"><title>{escape(title)}</title><style>{CSS}</style></head>'
            f"<body><main>{body}</main></body></html>\n")


def pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def num(x: float, digits: int = 1) -> str:
    return f"{x:,.{digits}f}" if x else "0"


def rate(x: float | None) -> str:
    """A success rate, or "unknown" where no episode's outcome is known (never a made-up 0%)."""
    return "unknown" if x is None else pct(x)


def cost_text(s: Summary) -> str:
    """Cost per episode in words: dollars for a priced model, model seconds for a local one.

    Local compute bills no dollars but is not free: its price is the time it takes.
    """
    if s.model is None:
        return "no model"
    if s.local:
        return f"{s.model_seconds_mean:.1f} s model time"
    x = s.cost_per_episode
    if x is None:
        return "n/a"
    return f"${x:.4f}" if x < 1 else f"${x:,.2f}"


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


def _heat(rate: float) -> str:
    return f"background:rgba(21,128,61,{0.07 + 0.55 * rate:.2f})"


def glance(summaries: Sequence[Summary], agents: Sequence[str], envs: Sequence[str], about: dict[str, str]) -> str:
    """The agents x envs matrix of success rates; the best agent of each column is outlined."""
    by = {(s.agent, s.env): s for s in summaries}
    columns = list(envs) + ([ALL_ENVS] if (agents and (agents[0], ALL_ENVS) in by) else [])
    best = {env: max((r for a in agents if (a, env) in by and (r := by[(a, env)].success_rate) is not None),
                     default=None) for env in columns}
    colour = colours(agents)
    head = "".join(f'<th title="{escape(e)}">{escape(short_env(e) if e != ALL_ENVS else e)}</th>' for e in columns)
    rows = []
    for agent in agents:
        cells = []
        for env in columns:
            s = by.get((agent, env))
            if s is None:
                cells.append('<td class="cell">-</td>')
                continue
            mark = " best" if s.success_rate == best[env] and s.successes else ""
            unknown = f" · {s.unknown} of {s.n} unknown" if s.unknown else ""
            span = f"{pct(s.ci_low)}–{pct(s.ci_high)} · " if s.known else ""
            cells.append(f'<td class="cell{mark}" style="{_heat(s.success_rate or 0)}"><b>{rate(s.success_rate)}</b>'
                         f'<small>{span}n={s.n}{unknown}</small></td>')
        rows.append(f'<tr><td class="l"><span class="sw" style="background:{colour[agent]}"></span><b>{escape(agent)}</b>'
                    f'<div class="desc">{escape(about.get(agent, ""))}</div></td>{"".join(cells)}</tr>')
    return (f'<table class="glance"><tr><th class="l">agent</th>{head}</tr>{"".join(rows)}</table>'
            '<p class="desc">Success rate, 95% Wilson interval and episodes per cell; outlined: best on that env. '
            'Unknown: the env cannot tell success (no rule for it); such episodes are not counted either way.</p>')


def findings(summaries: Sequence[Summary], items: Sequence[Comparison], agents: Sequence[str],
             envs: Sequence[str]) -> str:
    """One sentence per env: who leads, and whether the lead over the runner-up is statistically real."""
    if len(agents) < 2:
        return ""
    by = {(s.agent, s.env): s for s in summaries}
    pairs = {(c.a, c.b, c.env): c for c in items}
    lines = []
    for env in list(envs) + ([ALL_ENVS] if len(envs) > 1 else []):
        ranked = sorted((by[(a, env)] for a in agents if (a, env) in by and by[(a, env)].success_rate is not None),
                        key=lambda s: -(s.success_rate or 0))
        if len(ranked) < 2:
            continue
        first, second = ranked[0], ranked[1]
        name = escape(short_env(env) if env != ALL_ENVS else env)
        c = pairs.get((first.agent, second.agent, env)) or pairs.get((second.agent, first.agent, env))
        if first.success_rate == second.success_rate:
            text = f"{escape(first.agent)} and {escape(second.agent)} tie at {pct(first.success_rate)}"
        else:
            text = (f"<b>{escape(first.agent)}</b> leads with {pct(first.success_rate)}, ahead of "
                    f"{escape(second.agent)} ({pct(second.success_rate)})")
            if c is not None:
                text += (f": <span class='sig'>a real difference</span> (McNemar p={c.p_value:.2g}, {c.pairs} pairs)"
                         if c.significant() else f": not yet significant (p={c.p_value:.2g}, {c.pairs} pairs)")
        lines.append(f"<li><b>{name}</b>: {text}</li>")
    return f'<ul class="findings">{"".join(lines)}</ul>' if lines else ""


def metric_text(s: Summary) -> str:
    parts = []
    for name, m in s.metrics.items():
        value = pct(m["value"]) if m["kind"] == "rate" else f"{m['value']:.3g}"
        parts.append(f"{escape(name)}&nbsp;{value}")
    return ", ".join(parts)


def side_by_side(summaries: Sequence[Summary], agents: Sequence[str], envs: Sequence[str]) -> str:
    """Every number per agent x env; the pooled row per agent closes each block."""
    colour = colours(agents)
    has_metrics = any(s.metrics for s in summaries)
    head = ("<tr><th class='l'>env</th><th class='l'>agent</th><th>n</th><th class='l'>success (95% CI)</th>"
            "<th>return</th><th>steps</th><th>tokens in</th><th>tokens out</th><th>model s/step</th>"
            "<th>wall s/ep</th><th>cost/ep</th><th>errors</th><th>model errors</th>"
            + ("<th class='l'>env metrics</th>" if has_metrics else "")
            + "</tr>")
    order = {env: i for i, env in enumerate(list(envs) + [ALL_ENVS])}
    rows = []
    for s in sorted(summaries, key=lambda s: (order.get(s.env, 99), agents.index(s.agent) if s.agent in agents else 99)):
        bar = (f'<div class="bar"><u style="left:{100 * s.ci_low:.1f}%;width:{100 * (s.ci_high - s.ci_low):.1f}%"></u>'
               f'<i style="width:{100 * (s.success_rate or 0):.1f}%"></i></div>') if s.known else ""
        err = f'<span class="err">{s.errors}</span>' if s.errors else "0"
        model_err = f'<span class="err">{s.model_errors}</span>' if s.model_errors else "0"
        success = (f"{pct(s.success_rate)} <span class='desc'>({pct(s.ci_low)}–{pct(s.ci_high)})</span>"
                   if s.success_rate is not None else "unknown")
        if s.unknown and s.known:
            success += f" <span class='desc'>{s.unknown} unknown</span>"
        cost = cost_text(s)
        rows.append(
            f'<tr class="{"all" if s.env == ALL_ENVS else ""}"><td class="l" title="{escape(s.env)}">{escape(short_env(s.env) if s.env != ALL_ENVS else s.env)}</td>'
            f'<td class="l"><span class="sw" style="background:{colour.get(s.agent, "#777")}"></span>{escape(s.agent)}</td>'
            f"<td>{s.n}</td><td class='l'>{success}{bar}</td>"
            f"<td>{s.return_mean:.2f}</td><td>{s.steps_mean:.1f}</td><td>{num(s.tokens_in_mean, 0)}</td>"
            f"<td>{num(s.tokens_out_mean, 0)}</td><td>{s.latency_per_step:.2f}</td><td>{s.seconds_mean:.1f}</td>"
            f"<td{' class=desc' if cost == 'n/a' else ''}>{escape(cost)}</td><td>{err}</td><td>{model_err}</td>"
            + (f"<td class='l desc'>{metric_text(s)}</td>" if has_metrics else "") + "</tr>")
    return f"<table>{head}{''.join(rows)}</table>"


def comparisons(items: Sequence[Comparison]) -> str:
    """Paired tests: exact McNemar on success, paired bootstrap on return."""
    if not items:
        return '<p class="desc">One agent only: nothing to compare.</p>'
    rows = []
    for c in items:
        verdict = escape(c.verdict())
        rows.append(
            f"<tr><td class='l'>{escape(c.a)} vs {escape(c.b)}</td><td class='l'>{escape(short_env(c.env) if c.env != ALL_ENVS else c.env)}</td>"
            f"<td>{c.pairs}</td><td>{c.a_only}</td><td>{c.b_only}</td><td>{100 * c.success_diff:+.0f} pts</td>"
            f"<td>{c.p_value:.3g}</td><td>{c.return_diff:+.2f} <span class='desc'>[{c.return_ci[0]:+.2f}, {c.return_ci[1]:+.2f}]</span></td>"
            f"<td class='l verdict{' sig' if c.significant() else ''}'>{verdict}</td></tr>")
    return ("<table><tr><th class='l'>A vs B</th><th class='l'>env</th><th>pairs</th><th>only A won</th>"
            "<th>only B won</th><th>Δ success</th><th>McNemar p</th><th>Δ return [95% CI]</th><th class='l'>verdict</th></tr>"
            + "".join(rows) + "</table><p class='desc'>Pairs are episodes of both agents on the same env and seed. "
            "Exact McNemar test on the pairs where only one agent succeeded; return difference with a paired "
            "bootstrap (10,000 resamples). p &lt; 0.05 is marked.</p>")


def episode_index(results: Sequence[Any], agents: Sequence[str], linked: bool = True) -> str:
    """Every episode, linked to its page when the pages were written."""
    colour = colours(agents)
    rows = []
    for r in results:
        ok = ('<span class="desc">unknown</span>' if r.success is None else
              '<span class="yes">yes</span>' if r.success else '<span class="no">no</span>')
        error = f'<span class="err">{escape((r.error or "")[:90])}</span>'
        name = escape(r.episode_id)
        name = f'<a href="episodes/{name}/index.html">{name}</a>' if linked else name
        rows.append(f'<tr><td class="l">{name}</td>'
                    f'<td class="l"><span class="sw" style="background:{colour.get(r.agent, "#777")}"></span>{escape(r.agent)}</td>'
                    f'<td class="l">{escape(short_env(r.env))}</td><td>{r.seed}</td><td>{ok}</td><td>{r.return_:.2f}</td>'
                    f"<td>{r.steps}</td><td>{r.tokens_in + r.tokens_out:,}</td><td>{r.seconds:.1f}</td><td class='l'>{error}</td></tr>")
    return ("<table><tr><th class='l'>episode</th><th class='l'>agent</th><th class='l'>env</th><th>seed</th><th>success</th>"
            "<th>return</th><th>steps</th><th>tokens</th><th>seconds</th><th class='l'>error</th></tr>"
            + "".join(rows) + "</table>")


def _pre(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, indent=1, ensure_ascii=False)
    return f"<pre>{escape(text)}</pre>"


def _model_outputs(trace: dict[str, Any], accepted: bool) -> list[str]:
    """Each model output of the step, the reason beside each one the planner rejected.

    ``outputs`` are the tries of the step's last plan; ``rejected`` holds the rejections of every
    plan of the step (a memory-tool call starts a new plan), so the first ones may be older.
    """
    outputs, rejected = trace.get("outputs") or [], trace.get("rejected") or []
    split = max(len(rejected) - (len(outputs) - (1 if accepted else 0)), 0)
    parts = [f'<div class="k">rejected try, before a memory-tool call</div><div class="err">{escape(str(r.get("reason")))}</div>'
             f'{_pre(r.get("output", ""))}' for r in rejected[:split]]
    for i, out in enumerate(outputs):
        label = "model output" + (f" (try {i + 1} of {len(outputs)})" if len(outputs) > 1 else "")
        reason = rejected[split + i].get("reason") if split + i < len(rejected) else None
        why = f'<div class="err">rejected: {escape(str(reason))}</div>' if reason is not None else ""
        parts.append(f'<div class="k">{label}</div>{_pre(out)}{why}')
    return parts


def step_html(row: dict[str, Any]) -> str:
    """One step: the frame beside what the agent saw, what the model said, and what the env did."""
    trace = row.get("trace") or {}
    call = row.get("call")
    call_text = f"{call['name']}({json.dumps(call.get('args', {}), ensure_ascii=False)})" if call else "no action"
    usage = row.get("usage") or {}
    frame = (f'<img src="{escape(row["frame"])}" alt="frame {row.get("step")}" loading="lazy">' if row.get("frame")
             else '<div class="desc">no frame</div>')
    retried = len(trace.get("rejected") or [])
    note = f' · <span class="err">{retried} rejected</span>' if retried else ""
    parts = [f"<h3>Step {row.get('step')} · <code>{escape(call_text)}</code>{note}</h3>"]
    parts.append(f'<div class="k">observation</div>{_pre(row.get("observation", ""))}')
    if trace.get("perception") and trace["perception"] != row.get("observation"):
        parts.append(f'<div class="k">what the perceiver passed on</div>{_pre(trace["perception"])}')
    if trace.get("memories"):
        parts.append(f'<div class="k">recalled memories</div>{_pre(chr(10).join(map(str, trace["memories"])))}')
    for call_info in trace.get("inner_calls") or []:
        parts.append(f'<div class="k">agent-side tool</div>{_pre(call_info)}')
    parts += _model_outputs(trace, accepted=call is not None)
    other = {k: v for k, v in trace.items()
             if k not in ("perception", "memories", "inner_calls", "outputs", "messages", "rejected")}
    if other:
        parts.append(f'<div class="k">trace</div>{_pre(other)}')
    outcome = f'<span class="err">error: {escape(str(row["error"]))}</span>' if row.get("error") else escape(row.get("result") or "ok")
    parts.append(f'<div class="k">result</div><div>{outcome} · reward {float(row.get("reward") or 0):g}'
                 f'{" · terminated" if row.get("terminated") else ""}{" · truncated" if row.get("truncated") else ""}'
                 f' · {usage.get("tokens_in", 0)}+{usage.get("tokens_out", 0)} tokens, model {usage.get("latency", 0):.2f}s,'
                 f' step {float(row.get("seconds") or 0):.2f}s</div>')
    if trace.get("messages"):
        parts.append(f'<details><summary class="desc">prompt sent to the model</summary>{_pre(trace["messages"])}</details>')
    return f'<div class="step"><div>{frame}</div><div>{"".join(parts)}</div></div>'


def episode_page(result: Any, steps: Sequence[dict[str, Any]], prev_id: str | None, next_id: str | None) -> str:
    """``episodes/<id>/index.html``: links back to the report and to the neighbouring episodes."""
    nav = ['<a href="../../report.html">← report</a>']
    if prev_id:
        nav.append(f'<a href="../{escape(prev_id)}/index.html">previous episode</a>')
    if next_id:
        nav.append(f'<a href="../{escape(next_id)}/index.html">next episode</a>')
    outcome = '<span class="yes">success</span>' if result.success else '<span class="no">failure</span>'
    badges = [outcome, f"return {result.return_:.2f}", f"{result.steps} steps",
              f"{result.tokens_in:,}+{result.tokens_out:,} tokens", f"{result.seconds:.1f}s"]
    if result.retries:
        badges.append(f"{result.retries} planner retries")
    badges += [f"{escape(k)}: {escape(str(v))}" for k, v in result.metrics.items()]
    error = f'<p class="err">error: {escape(result.error)}</p>' if result.error else ""
    body = (f'<p class="sub">{" · ".join(nav)}</p><h1>{escape(result.agent)} on {escape(result.env)}, seed {result.seed}</h1>'
            f'<div class="badges">{"".join(f"<span>{b}</span>" for b in badges)}</div>{error}'
            f"<section>{''.join(step_html(r) for r in steps) or '<p class=desc>No steps were recorded.</p>'}</section>")
    return page(f"{result.agent} · {result.env} · seed {result.seed}", body)
