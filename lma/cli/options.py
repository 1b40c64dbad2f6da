"""Flags shared by ``lma run`` and ``lma eval``, and how they become a run's settings."""

from __future__ import annotations

import argparse
from typing import Any

from lma.errors import LmaError


def add_episode_arguments(p: argparse.ArgumentParser) -> None:
    """What each episode may take: steps, time, frames (both commands, same meaning)."""
    p.add_argument("--max-steps", type=int, help="step limit per episode (default: 64)")
    p.add_argument("--step-timeout", type=float, help="seconds one env call may take (default 60)")
    p.add_argument("--episode-timeout", type=float, help="seconds one episode may take (default 900)")
    p.add_argument("--no-frames", dest="record_frames", action="store_const", const=False,
                   help="do not save PNG frames")
    p.add_argument("--out", help="folder that receives the run folder (default: runs)")
    p.add_argument("--resume", metavar="RUN_DIR", help="finish an interrupted run")


def episode_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The settings of :func:`add_episode_arguments` that were given."""
    keys = ("max_steps", "step_timeout", "episode_timeout", "record_frames", "out")
    return {k: getattr(args, k) for k in keys if getattr(args, k, None) is not None}


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
