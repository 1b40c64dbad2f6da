"""``lma list [KIND]``: the registered names of each kind, with what they are."""

from __future__ import annotations

import argparse

HELP = "list registered agents, envs, tools, memories, models and perceivers"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from lma.registry import KINDS

    plural = ", ".join("memories" if k == "memory" else f"{k}s" for k in KINDS)
    p.add_argument("kind", nargs="?", help=f"one of: {plural}")


def main(args: argparse.Namespace) -> int:
    from lma.registry import KINDS, registry

    kinds = [registry(args.kind).kind] if args.kind else list(KINDS)
    for kind in kinds:
        print("memories:" if kind == "memory" else f"{kind}s:")
        for spec in registry(kind).specs():
            print(f"  {spec.name:32s} {spec.description}")
            for target, about in spec.targets.items():
                print(f"    {target:30s} {about}")
    return 0
