"""Episodes/min of ``lma eval`` with the embedded model: one batched model server vs the others.

The same jobs (agent ``type1`` with the embedded SmolLM2-135M on BabyAI, ``--episodes`` seeds,
``--max-steps`` steps each; the untuned model never finishes early, so every episode makes the same
number of planner calls) are run, in one invocation, through:

* ``batched``: one shared model server decoding concurrent requests together
  (:mod:`lma.models.llamacpp_batch`, the default);
* ``one at a time``: one shared model server with a single sequence (``n_parallel=1``), so requests
  are decoded one after the other, as before batching;
* ``per-worker copies``: no server (``share_models: false``): every worker loads its own model.

with 1, 2 and 4 worker processes (1 and 2 for the other two). Wall time is end to end, as a user waits for ``lma eval``:
worker and model-server start-up included. Prints a Markdown table, the ratios to one worker of
the same configuration, and the load average (the machine may be shared).

    scripts/netns-run nice -n 10 .venv/bin/python benchmarks/model_sharing.py [--episodes 4] [--max-steps 8]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time

CONFIGS = {
    "batched": ("llamacpp:smollm2-135m", True),
    "one at a time": ("llamacpp:smollm2-135m?n_parallel=1", True),
    "per-worker copies": ("llamacpp:smollm2-135m", False),
}


def measure(out: str, env: str, model: str, share: bool, workers: int, episodes: int, max_steps: int) -> tuple[float, float]:
    """(episodes/min end to end, share of the planner calls' prompt tokens taken from a KV cache)."""
    from lma.run.evaluate import prepare, run_jobs

    _, config = prepare({"agents": ["type1"], "envs": [env], "episodes": episodes, "seed": 2000, "model": model,
                         "max_steps": max_steps, "workers": workers, "share_models": share, "out": out,
                         "record_frames": False})
    start = time.perf_counter()
    run = run_jobs(config, name=f"sharing-{workers}")
    seconds = time.perf_counter() - start
    results = run.results()
    errors = [r.error for r in results if r.error]
    if len(results) != episodes or errors:
        raise SystemExit(f"{model} with {workers} workers: {len(errors)} episodes failed, e.g. {errors[:1]}")
    if any(r.steps != max_steps for r in results):
        raise SystemExit("an episode ended early: the configurations would not make the same calls")
    tokens = sum(r.tokens_in for r in results)
    cached = sum(r.tokens_cached for r in results)
    return 60 * episodes / seconds, cached / tokens if tokens else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=4)
    parser.add_argument("--max-steps", type=int, default=8)
    parser.add_argument("--env", default="babyai/GoToRedBall-v0")
    parser.add_argument("--workers", default="1,2,4", help="worker counts for the batched server")
    parser.add_argument("--baseline-workers", default="1,2", help="worker counts for the other two")
    parser.add_argument("--configs", default=",".join(CONFIGS))
    args = parser.parse_args()
    rows = []
    before = os.getloadavg()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        for name in args.configs.split(","):
            model, share = CONFIGS[name]
            levels = args.workers if name == "batched" else args.baseline_workers
            for workers in (int(w) for w in levels.split(",")):
                rate, cached = measure(out, args.env, model, share, workers, args.episodes, args.max_steps)
                rows.append((name, workers, rate, cached))
                print(f"{name:18s} {workers} workers: {rate:6.2f} episodes/min ({cached:.0%} of prompt tokens cached)",
                      file=sys.stderr, flush=True)
    after = os.getloadavg()
    print(f"\n{args.episodes} type1 episodes x {args.max_steps} steps of {args.env}, embedded SmolLM2-135M; "
          f"{platform.machine()}, {os.cpu_count()} CPUs; load average {before[0]:.1f} before, {after[0]:.1f} after; "
          f"{time.perf_counter() - started:.0f}s in all\n")
    print("| configuration | workers | episodes/min | vs 1 worker | prompt tokens cached |\n|---|---|---|---|---|")
    one = {name: rate for name, workers, rate, _ in rows if workers == 1}
    for name, workers, rate, cached in rows:
        ratio = f"{rate / one[name]:.2f}x" if name in one else "-"
        print(f"| {name} | {workers} | {rate:.2f} | {ratio} | {cached:.0%} |")


if __name__ == "__main__":
    main()
