"""``lma run``: one agent on episodes of one env, in this process.

It is ``lma eval`` with one agent and one env (:mod:`lma.run.evaluate`, backend ``inline``): the
same config schema, the same results, and ``--resume``; it prints a row per episode.
"""

from __future__ import annotations

import argparse
from typing import Any

from lma.cli.options import add_episode_arguments, episode_settings, parse_env_args
from lma.cli.output import exit_code, print_table
from lma.cli.progress import interrupted
from lma.errors import LmaError

HELP = "run one agent on episodes of one env"
COLUMNS = ["episode", "seed", "success", "return", "steps", "tokens", "seconds", "error"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--agent", help="agent name (lma list agents)")
    p.add_argument("--env", help="env id (lma list envs), or any Gymnasium id")
    p.add_argument("--episodes", type=int, default=1)
    p.add_argument("--seed", type=int, default=0, help="first seed; episode i uses seed+i")
    p.add_argument("--model", help="model spec, e.g. llamacpp:smollm2-135m or openai:URL#name")
    p.add_argument("--memory", help="memory spec: none, window, chroma[:NAME], chroma+http://HOST:PORT")
    p.add_argument("--perceiver", help="perceiver spec (lma list perceivers), e.g. ocr or caption:MODEL")
    p.add_argument("--env-arg", action="append", default=[], metavar="KEY=VALUE",
                   help="an env option, e.g. time_limit=60 (repeatable; values are read as YAML)")
    add_episode_arguments(p)


def given_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The evaluation settings that ``lma run``'s flags stand for."""
    if args.resume:
        return {}
    if not args.agent or not args.env:
        raise LmaError("name the agent and the env: lma run --agent type1 --env babyai/GoToObj-v0")
    agent = {"name": args.agent, **{k: getattr(args, k) for k in ("model", "memory", "perceiver")
                                    if getattr(args, k) is not None}}
    return {"agents": [agent], "envs": [args.env], "episodes": args.episodes, "seed": args.seed,
            "env_args": {args.env: parse_env_args(args.env_arg)}, "backend": "inline", "workers": 1,
            **episode_settings(args)}


def main(args: argparse.Namespace) -> int:
    from lma.run.evaluate import prepare, run_jobs

    run, config = prepare(given_settings(args), resume=args.resume, command="run")
    agent, env = config["agents"][0]["label"], config["envs"][0]
    with interrupted("run") as started:
        run = run_jobs(config, run, name=f"{agent}-{env}", on_start=started)
    order = {seed: i for i, seed in enumerate(config["seeds"])}
    results = sorted(run.results(), key=lambda r: order.get(r.seed, len(order)))
    print_table([{"episode": r.episode_id, "seed": r.seed, "success": "unknown" if r.success is None else r.success,
                  "return": r.return_, "steps": r.steps, "tokens": r.tokens_in + r.tokens_out, "seconds": r.seconds,
                  "error": (r.error or "")[:60]} for r in results], COLUMNS)
    unknown = sum(r.success is None for r in results)
    print(f"success {sum(r.success is True for r in results)}/{len(results) - unknown}"
          f"{f' ({unknown} unknown)' if unknown else ''}; run saved in {run.path}")
    return exit_code(results)
