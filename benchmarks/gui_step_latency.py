"""Desktop GUI step latency: action, screenshot and OCR, on the real Xvfb + Tk apps + RapidOCR.

Runs the scripted oracle of each task over a few seeds on one private display, twice:

* without OCR, timing ``step (no OCR)``: the GUI tool call (pyautogui over XTest), waiting until
  the app has handled it and reported its widget tree (xedit cannot be asked: a fixed 0.3 s
  settle), and the screenshot; then, on the side, ``screenshot`` (one mss grab over XCB) and
  ``ocr`` (:func:`lma.perception.ocr.read_text` on that screenshot; the engine is loaded beforehand);
* with OCR (the default env), timing ``step``: what an agent waits for per action. Its OCR is
  skipped when the screen did not change since the last step.

    python benchmarks/gui_step_latency.py [--tasks form-fill,todo-edit,xedit-append] [--seeds 3]

Prints median and p95 in milliseconds per measure and task, and the load average.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np

import lma
from lma.tools.display import VirtualDisplay
from lma.perception.ocr import read_text


def percentiles(values: list[float]) -> str:
    ms = np.asarray(values) * 1000
    return f"{np.median(ms):8.1f} {np.percentile(ms, 95):8.1f}"


def run(task: str, seeds: int, display: VirtualDisplay, ocr: bool, times: dict[str, list[float]]) -> None:
    env = lma.make(f"gui/{task}-v0", display=display, ocr=ocr)
    inner = env.unwrapped
    try:
        for seed in range(seeds):
            env.reset(seed=seed)
            for _ in range(40):
                call = inner.expert_action()
                t0 = time.perf_counter()
                _, _, terminated, truncated, _ = env.step(call)
                times["step" if ocr else "step (no OCR)"].append(time.perf_counter() - t0)
                if not ocr:
                    t1 = time.perf_counter()
                    image = inner.screen.screenshot()
                    t2 = time.perf_counter()
                    read_text(image)
                    times["screenshot"].append(t2 - t1)
                    times["ocr"].append(time.perf_counter() - t2)
                if terminated or truncated:
                    break
    finally:
        env.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tasks", default="form-fill,todo-edit,xedit-append")
    p.add_argument("--seeds", type=int, default=3)
    args = p.parse_args()
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f} at start")
    read_text(np.zeros((32, 32, 3), np.uint8))  # load the OCR engine outside the timings
    print(f"{'task':14s} {'measure':14s} {'median':>8s} {'p95':>8s} {'n':>4s}")
    with VirtualDisplay(size=(800, 600)) as display:
        for task in args.tasks.split(","):
            times: dict[str, list[float]] = {"step (no OCR)": [], "screenshot": [], "ocr": [], "step": []}
            run(task, args.seeds, display, False, times)
            run(task, args.seeds, display, True, times)
            for name, values in times.items():
                print(f"{task:14s} {name:14s} {percentiles(values)} {len(values):4d}")
    print(f"# load average {os.getloadavg()[0]:.1f} at end")


if __name__ == "__main__":
    main()
