"""``lma replay RUN EPISODE``: one trajectory, step by step (or its page / GIF again)."""

from __future__ import annotations

import argparse
import json

HELP = "print one episode's trajectory"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir")
    p.add_argument("episode_id")
    p.add_argument("-v", "--verbose", action="store_true", help="show observations and tool results too")
    p.add_argument("--html", action="store_true", help="re-render the episode's page (episodes/<id>/index.html)")
    p.add_argument("--gif", action="store_true", help="write the episode's frames as episodes/<id>/episode.gif")


def main(args: argparse.Namespace) -> int:
    from lma.run.recording import RunDir

    run = RunDir.open(args.run_dir)
    rows = run.trajectory(args.episode_id)
    if args.html or args.gif:
        from lma.report.build import episode_gif, render_episode

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
            if row.get("result"):
                print("      -> " + str(row["result"]).replace("\n", "\n         "))
    return 0
