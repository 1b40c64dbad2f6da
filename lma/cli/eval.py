"""``lma eval``: agents x envs side by side, in parallel and resumable (:mod:`lma.run.evaluate`)."""

from __future__ import annotations

import argparse
from typing import Any

from lma.cli.options import add_episode_arguments, episode_settings, parse_env_args
from lma.cli.output import exit_code, print_table
from lma.cli.progress import interrupted

HELP = "evaluate agents x envs side by side, in parallel and resumable"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--agents", help="comma-separated agent names, e.g. type1,type4,expert; a name (or label) the "
                   "--config file defines keeps its settings there")
    p.add_argument("--envs", help="comma-separated env ids, e.g. babyai/GoToObj-v0,miniwob/click-button-v0")
    p.add_argument("--episodes", type=int, help="episodes per agent and env (default 10)")
    p.add_argument("--seed", type=int, help="first seed; episode i uses seed+i for every agent (default 0)")
    p.add_argument("--workers", type=int, help="episodes at once (default: the number of CPU cores)")
    p.add_argument("--backend", choices=["local", "ray"], help="worker processes here (local) or Ray tasks")
    p.add_argument("--ray-address", help="an existing Ray cluster (default: start a local one)")
    p.add_argument("--config", metavar="FILE", help="YAML file with these settings (flags override it)")
    p.add_argument("--model", help="model for the agents that take one (default: $LMA_MODEL or the embedded model)")
    add_episode_arguments(p)
    p.add_argument("--no-share-models", dest="share_models", action="store_const", const=False,
                   help="let every worker load local models itself")
    p.add_argument("--env-arg", dest="env_args", action="append", metavar="KEY=VALUE",
                   help="an option for every env, e.g. time_limit=60 (repeatable; values read as YAML)")
    p.add_argument("--import", dest="imports", action="append", metavar="MODULE",
                   help="import a module in every worker first (plugins that register envs or agents)")
    p.add_argument("--report", action="store_true", help="write the run's report.html when the run ends")


def given_settings(args: argparse.Namespace) -> dict[str, Any]:
    """What the user asked for: the config file overlaid with the flags that were given."""
    from lma.run.evaluate import load_settings_file

    given = load_settings_file(args.config) if args.config else {}
    defined = {(a.get("label") or a.get("name")): a for a in given.get("agents") or [] if isinstance(a, dict)}
    for key in ("agents", "envs"):
        if getattr(args, key) is not None:
            given[key] = [v.strip() for v in getattr(args, key).split(",") if v.strip()]
    if args.agents is not None:  # an agent the file defines keeps its settings there
        given["agents"] = [defined.get(name, name) for name in given["agents"]]
    for key in ("episodes", "seed", "workers", "backend", "ray_address", "model", "share_models", "imports"):
        if getattr(args, key) is not None:
            given[key] = getattr(args, key)
    if args.env_args is not None:  # flags apply to every env ("*")
        from_file = given.get("env_args") or {}
        given["env_args"] = {**from_file, "*": {**from_file.get("*", {}), **parse_env_args(args.env_args)}}
    return {**given, **episode_settings(args)}


def main(args: argparse.Namespace) -> int:
    from lma.report.stats import in_run_order, summarize
    from lma.run.evaluate import agent_models, prepare, run_jobs

    run, config = prepare(given_settings(args), resume=args.resume)
    with interrupted("eval") as started:
        run = run_jobs(config, run, on_start=started)
    results = in_run_order(run.results(), [a["label"] for a in config["agents"]], config["envs"])
    rows = [{"agent": s.agent, "env": s.env, "episodes": s.n, "success": "unknown" if s.success_rate is None else f"{s.success_rate:.0%}",
             "95% CI": f"{s.ci_low:.0%}-{s.ci_high:.0%}", "return": s.return_mean, "steps": s.steps_mean,
             "tokens": s.tokens_in_mean + s.tokens_out_mean, "errors": s.errors}
            for s in summarize(results, agent_models(config), config.get("prices"))]
    print_table(rows, ["agent", "env", "episodes", "success", "95% CI", "return", "steps", "tokens", "errors"])
    if args.report:
        from lma.report.build import build

        print(f"{len(results)} episodes in {run.path}; the report: {build(run.path)}")
    else:
        print(f"{len(results)} episodes in {run.path}; write the report with: lma report {run.path}")
    return exit_code(results)
