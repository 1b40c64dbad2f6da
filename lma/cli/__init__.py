"""The ``lma`` command line: ``lma run | eval | serve | finetune | report | replay | list | webqa``.

Errors a user can fix (unknown names, malformed specs or configs, missing files) print one line
and exit with code 2; ``--debug`` shows the traceback instead. ``run``, ``list`` and ``replay``
live here; the other commands live in their own modules (listed in :data:`COMMANDS`), each with
``add_arguments(parser)`` and ``main(args) -> int``, imported only when used.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

from lma.registry import KINDS, LmaError, registry

COMMANDS = {
    "eval": ("lma.evaluate", "evaluate agents x envs side by side, in parallel and resumable"),
    "report": ("lma.report", "write report.md and report.html for a run"),
    "serve": ("lma.serve", "serve a local model over an OpenAI-compatible API"),
    "finetune": ("lma.finetune", "fine-tune a local planner on recorded trajectories (Type II)"),
    "webqa": ("lma.envs.webqa.cli", "WebQA tools: score a prediction file, generate the synthetic set"),
}


def print_table(rows: list[dict[str, Any]], columns: list[str]) -> None:
    """A plain fixed-width table on stdout."""
    cells = [[_cell(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) if cells else len(c) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths)))
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths)))


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.2f}"
    return "" if value is None else str(value)


def add_run_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--agent", required=True, help="agent name (lma list agents)")
    p.add_argument("--env", required=True, help="env id (lma list envs), or any Gymnasium id")
    p.add_argument("--episodes", type=int, default=1)
    p.add_argument("--seed", type=int, default=0, help="first seed; episode i uses seed+i")
    p.add_argument("--model", help="model spec, e.g. llamacpp:smollm2-135m or openai:URL#name")
    p.add_argument("--memory", help="memory spec: none, window, chroma[:NAME], chroma+http://HOST:PORT")
    p.add_argument("--perceiver", help="perceiver name (passthrough, caption, ocr, a11y, som)")
    p.add_argument("--env-arg", action="append", default=[], metavar="KEY=VALUE",
                   help="an env option, e.g. time_limit=60 (repeatable; values are read as YAML)")
    p.add_argument("--max-steps", type=int, help="step limit per episode (default: 64)")
    p.add_argument("--step-timeout", type=float, default=60.0, help="seconds one env call may take")
    p.add_argument("--episode-timeout", type=float, default=900.0, help="seconds one episode may take")
    p.add_argument("--no-frames", action="store_true", help="do not save PNG frames")
    p.add_argument("--out", default="runs", help="folder that receives the run folder (default: runs)")


def parse_env_args(pairs: list[str]) -> dict[str, Any]:
    """``["time_limit=60", "task=x"]`` -> ``{"time_limit": 60, "task": "x"}`` (values read as YAML)."""
    import yaml

    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.isidentifier():
            raise LmaError(f"--env-arg {pair!r}: expected KEY=VALUE with KEY a Python name")
        try:
            options[key] = yaml.safe_load(value)
        except yaml.YAMLError:
            options[key] = value
    return options


def check_env(env_id: str, env_kwargs: dict[str, Any]) -> None:
    """Build and close the env once, so unknown ids or options, missing data or packages fail before a run."""
    from lma.registry import make

    try:
        make(env_id, **env_kwargs).close()
    except TypeError as exc:
        if "unexpected keyword argument" not in str(exc):
            raise
        raise LmaError(f"env {env_id!r} does not take that option: {exc}") from None


def cmd_run(args: argparse.Namespace) -> int:
    from lma.agents import make_agent
    from lma.core import Task
    from lma.recording import RunDir, episode_id, new_run_id
    from lma.runner import run_episode

    if args.episodes < 1:
        raise LmaError("--episodes must be at least 1")
    env_kwargs = parse_env_args(args.env_arg)
    check_env(args.env, env_kwargs)  # fail before the run (exit 2)
    options = {"model": args.model, "memory": args.memory, "perceiver": args.perceiver}
    agent = make_agent(args.agent, **options)
    config = {
        "command": "run",
        "agent": agent.config(),
        "agent_options": {k: v for k, v in options.items() if v is not None},
        "env": args.env,
        "env_kwargs": env_kwargs,
        "seeds": [args.seed + i for i in range(args.episodes)],
        "max_steps": args.max_steps,
        "step_timeout": args.step_timeout,
        "episode_timeout": args.episode_timeout,
        "record_frames": not args.no_frames,
    }
    run = RunDir.create(args.out, new_run_id(f"{args.agent}-{args.env}"), config)
    from tqdm import tqdm

    rows = []
    bar = tqdm(config["seeds"], desc=f"{args.agent} on {args.env}", unit="episode", file=sys.stderr)
    for seed in bar:
        task = Task(args.env, seed, max_steps=args.max_steps, env_kwargs=env_kwargs)
        recorder = run.episode(episode_id(agent.name, args.env, seed), record_frames=not args.no_frames)
        result = run_episode(agent, task, recorder=recorder, step_timeout=args.step_timeout,
                             episode_timeout=args.episode_timeout)
        run.add_result(result)
        rows.append(result)
        bar.set_postfix(success=f"{sum(r.success for r in rows)}/{len(rows)}")
    agent.close()
    print_table(
        [
            {"episode": r.episode_id, "seed": r.seed, "success": r.success, "return": r.return_, "steps": r.steps,
             "tokens": r.tokens_in + r.tokens_out, "seconds": r.seconds, "error": (r.error or "")[:60]}
            for r in rows
        ],
        ["episode", "seed", "success", "return", "steps", "tokens", "seconds", "error"],
    )
    print(f"success {sum(r.success for r in rows)}/{len(rows)}; run saved in {run.path}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    kinds = [registry(args.kind).kind] if args.kind else list(KINDS)
    for kind in kinds:
        print("memories:" if kind == "memory" else f"{kind}s:")
        for spec in registry(kind).specs():
            print(f"  {spec.name:32s} {spec.description}")
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    from lma.recording import RunDir

    run = RunDir.open(args.run_dir)
    rows = run.trajectory(args.episode_id)
    if args.html or args.gif:
        from lma.report import episode_gif, render_episode

        if args.html:
            print(f"wrote {render_episode(run, args.episode_id)}")
        if args.gif:
            print(f"wrote {episode_gif(run, args.episode_id)}")
        return 0
    for row in rows:
        call = row.get("call")
        call_text = f"{call['name']}({json.dumps(call['args'])})" if call else "-"
        status = f"error: {row['error']}" if row.get("error") else f"reward {row.get('reward', 0):g}"
        print(f"[{row['step']:3d}] {call_text:40s} {status}")
        if args.verbose:
            print("      " + row.get("observation", "").replace("\n", "\n      "))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lma", description="Large Multimodal Agents: run, evaluate, serve.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True)
    add_run_arguments(sub.add_parser("run", help="run one agent on episodes of one env"))
    p = sub.add_parser("list", help="list registered agents, envs, tools, memories and models")
    p.add_argument("kind", nargs="?", help="one of: agents, envs, tools, memories, models")
    p = sub.add_parser("replay", help="print one episode's trajectory")
    p.add_argument("run_dir")
    p.add_argument("episode_id")
    p.add_argument("-v", "--verbose", action="store_true", help="show observations too")
    p.add_argument("--html", action="store_true", help="re-render the episode's page (episodes/<id>/index.html)")
    p.add_argument("--gif", action="store_true", help="write the episode's frames as episodes/<id>/episode.gif")
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text)
        try:
            importlib.import_module(module).add_arguments(p)
        except ImportError:
            p.set_defaults(unavailable=module)
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING, format="%(levelname)s %(message)s")
    handlers = {"run": cmd_run, "list": cmd_list, "replay": cmd_replay}
    try:
        if getattr(args, "unavailable", None):
            raise LmaError(f"`lma {args.command}` is not available: {args.unavailable} is not installed")
        if args.command in handlers:
            return handlers[args.command](args)
        return importlib.import_module(COMMANDS[args.command][0]).main(args)
    except LmaError as exc:
        if args.debug:
            raise
        print(f"lma: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("lma: interrupted; finished episodes are saved", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug, not bad input: still one line unless --debug
        if args.debug:
            raise
        print(f"lma: unexpected error: {type(exc).__name__}: {exc} (rerun with --debug for details)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
