"""The browser allowlist under attack, in full: every attack of tests/browser_attack_pages.py in
both allowlist modes, the controls, and a two-minute idle session; prints one line per class and
the totals (the figures in docs/web.md).

    scripts/netns-run .venv/bin/python benchmarks/browser_attacks.py [--idle 120]

It needs the loopback-only network namespace of ``scripts/netns-run`` (it binds 127.0.0.1:53 for
its logging DNS server and 127.0.0.2 for canaries). Exit status 1 if anything escaped, a control
was not seen, or the idle session tried anything.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from browser_attacks_kit import env_problem, run_all

from lma.tools.browser_process import group_members


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--idle", type=float, default=120.0, help="seconds the idle session is watched")
    args = parser.parse_args()
    problem = env_problem()
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as folder:
        outcomes, facts = run_all(Path(folder), idle=args.idle)
    by_kind: dict[tuple[str, str], list] = defaultdict(list)
    for outcome in outcomes:
        by_kind[outcome.mode, outcome.attack.kind].append(outcome)
    print(f"{'allowlist':10} {'class':14} {'attacks':>7} {'held':>5} {'refusals':>8}")
    for (mode, kind), group in sorted(by_kind.items()):
        refusals = sum(len(o.refused) for o in group)
        print(f"{mode:10} {kind:14} {len(group):7} {sum(o.held for o in group):5} {refusals:8}")
    escaped = [o for o in outcomes if not o.held]
    for outcome in escaped:
        print(f"NOT HELD {outcome.mode} {outcome.attack.name}: hits {outcome.hits} dns {outcome.dns} "
              f"alive {outcome.alive} {outcome.problem}")
    left = [pid for pid in facts["pids"] if group_members(pid)]
    print(f"attacks {len(outcomes)}, held {len(outcomes) - len(escaped)}, escaped {len(escaped)}; "
          f"canary hits {sum(len(o.hits) for o in outcomes)}, DNS lookups {sum(len(o.dns) for o in outcomes)}, "
          f"refusals {sum(len(o.refused) for o in outcomes)}")
    print(f"controls: escape seen {facts['control escape hits']} times, DNS lookup logged {facts['control lookup logged']}")
    print(f"idle {args.idle:g}s: {facts.get('idle')}")
    print(f"Chromium processes left: {len(left)}; {facts['seconds']:.0f}s in all")
    idle_quiet = not any(facts.get("idle", {}).values())
    ok = not escaped and facts["control escape hits"] > 0 and facts["control lookup logged"] and idle_quiet and not left
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
