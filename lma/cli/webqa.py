"""``lma webqa``: score a WebQA prediction file, or write the synthetic set.

* ``lma webqa score FILE.tsv [--bartscore DIR]`` reads a file in the baseline-prediction format
  (Guid, Qcate, Q, A, Keywords_A, Output_conf, Output) and prints JSON with ``n``, ``acc``,
  ``acc_by_category``, ``fl`` and ``qa``; ``fl`` and ``qa`` are null unless ``--bartscore`` names
  a local BARTScore model folder (see :mod:`lma.envs.webqa.fluency`).
* ``lma webqa generate OUT_DIR [--seed N]`` writes the synthetic set (``WebQA_train_val.json``,
  ``imgs.tsv``, ``imgs.lineidx``); existing files are kept unless ``--force``.

A missing or malformed file is one line on stderr and exit code 2 (``lma.cli`` handles
:class:`~lma.registry.LmaError`). Heavy imports (spaCy, transformers) happen inside the commands.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from lma.errors import LmaError

HELP = "WebQA tools: score a prediction file, generate the synthetic set"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="webqa_command", required=True, metavar="{score,generate}")
    score = sub.add_parser("score", help="score a WebQA prediction TSV (Acc per category; FL with --bartscore)")
    score.add_argument("file", help="prediction file: Guid, Qcate, Q, A, Keywords_A, Output_conf, Output")
    score.add_argument("--bartscore", metavar="DIR", help="local BART model folder for fluency (optional bart.pth)")
    score.add_argument("--batch-size", type=int, default=16, help="BARTScore batch size (default: 16)")
    generate = sub.add_parser("generate", help="write the synthetic WebQA set in the real on-disk format")
    generate.add_argument("out_dir", help="folder to write WebQA_train_val.json, imgs.tsv, imgs.lineidx into")
    generate.add_argument("--seed", type=int, default=0, help="generator seed (default: 0, the bundled set)")
    generate.add_argument("--force", action="store_true", help="overwrite existing files")


def cmd_score(args: argparse.Namespace) -> int:
    from lma.envs.webqa.metrics import WebQAFormatError, read_prediction_tsv, score_predictions

    path = Path(args.file)
    if not path.is_file():
        raise LmaError(f"no such prediction file: {path}")
    try:
        rows = read_prediction_tsv(path)
    except WebQAFormatError as exc:
        raise LmaError(str(exc)) from None
    except UnicodeDecodeError as exc:
        raise LmaError(f"{path}: not UTF-8 text ({exc.reason})") from None
    if not rows:
        raise LmaError(f"{path}: no prediction rows after the header")
    fluency = None
    if args.bartscore:
        from lma.envs.webqa.fluency import BARTScorer

        fluency = BARTScorer(args.bartscore, batch_size=args.batch_size).fluency
    result = score_predictions(rows, fluency_fn=fluency)
    print(json.dumps({"file": str(path), **result}, indent=2))
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    from lma.envs.webqa.data import IMAGES_FILE, LINEIDX_FILE, QUESTIONS_FILE
    from lma.envs.webqa.synthetic import write_synthetic

    out = Path(args.out_dir)
    existing = [name for name in (QUESTIONS_FILE, IMAGES_FILE, LINEIDX_FILE) if (out / name).exists()]
    if existing and not args.force:
        raise LmaError(f"{out} already holds {', '.join(existing)}; pass --force to overwrite")
    if out.exists() and not out.is_dir():
        raise LmaError(f"{out} is not a folder")
    counts = write_synthetic(out, seed=args.seed)
    print(json.dumps({"out_dir": str(out), "seed": args.seed, **counts}))
    return 0


def main(args: argparse.Namespace) -> int:
    return {"score": cmd_score, "generate": cmd_generate}[args.webqa_command](args)
