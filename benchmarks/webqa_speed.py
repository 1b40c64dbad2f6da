"""How fast the WebQA pieces are: generating the synthetic set, env steps, and scoring.

Prints one JSON object with:

* ``generate_s``: seconds to write the synthetic set (224 questions, 80 PNG images);
* ``reset_ms`` / ``search_ms`` / ``read_image_ms`` / ``answer_ms``: median and p95 milliseconds
  of each env call over all synthetic questions (``answer`` includes the accuracy metric; its
  first call also builds the spaCy lemmatiser, which only the p95 sees);
* ``score_rows_per_s``: rows per second of ``score_predictions`` on a baseline prediction file
  (default: the 2,511-row VLP+VinVL image-query fixture), lemmatiser cache cold.

    python benchmarks/webqa_speed.py [--file tests/data/webqa/img_queries_...tsv]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from lma.core import ToolCall
from lma.envs.webqa.env import WebQAEnv
from lma.envs.webqa.metrics import read_prediction_tsv, score_predictions
from lma.envs.webqa.synthetic import write_synthetic

DEFAULT_FILE = Path(__file__).resolve().parent.parent / "tests/data/webqa/" \
    "img_queries_VLP_vinvl_combinedTraining_val_beam5_img_step13_cleaned.tsv"


def summary(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    return {"median": round(statistics.median(ordered) * 1000, 3),
            "p95": round(ordered[int(0.95 * (len(ordered) - 1))] * 1000, 3)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--file", type=Path, default=DEFAULT_FILE, help="prediction TSV to score")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        write_synthetic(tmp, seed=0)
        generated = time.perf_counter() - start
        env = WebQAEnv(data=tmp)
        times: dict[str, list[float]] = defaultdict(list)

        def timed(name: str, fn):  # type: ignore[no-untyped-def]
            t0 = time.perf_counter()
            out = fn()
            times[name].append(time.perf_counter() - t0)
            return out

        for seed in range(len(env.dataset)):
            timed("reset", lambda: env.reset(seed=seed))
            ex = env.example
            timed("search", lambda: env.step(ToolCall("search", {"query": ex.question})))
            image = next(s.id for s in ex.sources if s.kind == "image")
            timed("read_image", lambda: env.step(ToolCall("read", {"source_id": image})))
            answer = ToolCall("answer", {"text": ex.answers[0], "sources": ex.positive_ids})
            timed("answer", lambda: env.step(answer))
    rows = read_prediction_tsv(args.file)
    start = time.perf_counter()
    score_predictions(rows)
    scoring = time.perf_counter() - start
    result = {"generate_s": round(generated, 3), **{f"{k}_ms": summary(v) for k, v in times.items()},
              "score_rows_per_s": round(len(rows) / scoring, 1), "score_rows": len(rows)}  # fmt: skip
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
