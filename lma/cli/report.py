"""``lma report RUN_DIR``: ``report.md`` and ``report.html`` for a run (:func:`lma.report.build.build`)."""

from __future__ import annotations

import argparse

HELP = "write report.md and report.html for a run"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", help="a run folder written by lma eval or lma run")
    p.add_argument("--no-episodes", action="store_true", help="skip the per-episode pages")


def main(args: argparse.Namespace) -> int:
    from lma.report.build import build

    path = build(args.run_dir, episodes=not args.no_episodes)
    print(f"wrote {path} and {path.with_name('report.md')}")
    return 0
