"""``lma finetune``: fine-tune a local planner on recorded trajectories; the result is a Type II agent.

::

    lma run --agent expert --env babyai/GoToObj-v0 --episodes 200 --seed 1000 --no-frames --out runs/expert
    lma finetune --from runs/expert/RUN_ID --base llamacpp:smollm2-135m --out models/babyai --lora
    lma run --agent type2 --model transformers:models/babyai --env babyai/GoToObj-v0 --episodes 20

The successful episodes of the given run folders become chat-format examples
(:mod:`lma.sft_data`: the planner's prompt at each step -> the tool call it made), and the base
model is trained on them (:mod:`lma.sft_train`). The output folder appears only when it is
complete: everything is written to a temporary sibling folder that is renamed at the end, so an
interrupted or failed run never leaves a folder that looks complete. ``lma-finetune.json`` in it
records the data, settings and figures of the run.

To train on another machine (a GPU box), save the data with ``--save-data FILE.jsonl``, train
there with ``--from FILE.jsonl --lora --adapter-only`` (the output is the adapter alone, a few MB),
and merge it here with ``lma finetune --merge ADAPTER_DIR --out DIR``. ``--export-gguf DIR --out
FILE.gguf`` writes a model fine-tuned from a GGUF base back to GGUF for llama.cpp
(:mod:`lma.gguf_export`).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from lma.registry import LmaError

INFO_FILE = "lma-finetune.json"
DEFAULT_BASE = "llamacpp:smollm2-135m"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--from", dest="runs", metavar="RUN_DIR[,RUN_DIR...]",
                   help="run folders whose successful episodes are the training data (or .jsonl data files)")
    p.add_argument("--base", help=f"model to start from: llamacpp:NAME_OR_GGUF or transformers:DIR "
                                  f"(default: {DEFAULT_BASE}; with --merge: the adapter's base)")
    p.add_argument("--out", help="folder to write the fine-tuned model to (must not exist)")
    p.add_argument("--lora", action="store_true", help="train LoRA adapters (merged into the saved model)")
    p.add_argument("--adapter-only", action="store_true", help="with --lora: save the adapter alone, unmerged")
    p.add_argument("--merge", metavar="ADAPTER_DIR", help="merge an adapter saved with --adapter-only; no training")
    p.add_argument("--export-gguf", metavar="MODEL_DIR",
                   help="write MODEL_DIR (fine-tuned from a GGUF --base) as a GGUF file --out, for llama.cpp")
    p.add_argument("--save-data", metavar="FILE.jsonl",
                   help="write the training examples to this file (without --out: only that, no training)")
    p.add_argument("--epochs", type=float, default=1.0)
    p.add_argument("--lr", type=float, help="learning rate (default: 1e-3 with --lora, else 5e-5)")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--max-steps", type=int, help="stop after this many optimizer steps")
    p.add_argument("--max-length", type=int, default=1024, help="longer examples (in tokens) are skipped")
    p.add_argument("--history", type=int, help="past steps in each prompt (default: the agents' default)")
    p.add_argument("--seed", type=int, default=0)


def default_history() -> int:
    """How many past steps the agents put in a prompt (imported late: it needs the env stack)."""
    from lma.agents.llm import DEFAULT_HISTORY

    return DEFAULT_HISTORY


def write_atomically(out: Path, write: Any) -> None:
    """Call ``write(tmp_dir)``, then rename the finished folder to ``out``; a failure leaves nothing."""
    if out.exists():
        raise LmaError(f"{out} already exists: choose a new --out folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        write(tmp)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def finetune(sources: list[str], base: str, out: str | Path, settings: Any, history: int | None = None,
             save_data: str | None = None) -> dict[str, Any]:
    """Build the data, train, and write the model to ``out`` atomically; returns its info."""
    from lma.sft_data import collect_examples, save_examples
    from lma.sft_train import load_base, train

    if Path(out).exists():
        raise LmaError(f"{out} already exists: choose a new --out folder")
    if history is None and not all(s.endswith(".jsonl") for s in sources):
        history = default_history()
    examples, episodes = collect_examples(sources, history or 0)
    if save_data:
        save_examples(examples, save_data)
    model, tokenizer = load_base(base)
    info = {"base": base, "from": list(sources), "episodes": episodes, "history": history,
            "settings": vars(settings)}

    def write(tmp: Path) -> None:
        trained, info["figures"] = train(model, tokenizer, examples, settings, tmp)
        shutil.rmtree(tmp / "trainer", ignore_errors=True)
        trained.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        info["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
        (tmp / INFO_FILE).write_text(json.dumps(info, indent=2))

    write_atomically(Path(out), write)
    return info


def merge(adapter_dir: str, out: str | Path, base: str | None = None) -> dict[str, Any]:
    """Merge an adapter saved with ``--adapter-only`` into its base and save the full model."""
    from lma.sft_train import merge_adapter

    info_path = Path(adapter_dir) / INFO_FILE
    if not info_path.is_file():
        raise LmaError(f"{adapter_dir} is not an adapter saved by `lma finetune --adapter-only` (no {INFO_FILE})")
    info = json.loads(info_path.read_text())
    base = base or info["base"]
    model, tokenizer = merge_adapter(adapter_dir, base)
    info.update(base=base, merged_from=str(adapter_dir), finished=time.strftime("%Y-%m-%d %H:%M:%S"))

    def write(tmp: Path) -> None:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / INFO_FILE).write_text(json.dumps(info, indent=2))

    write_atomically(Path(out), write)
    return info


def main(args: argparse.Namespace) -> int:
    from lma.sft_train import TrainSettings

    if not args.out and not (args.save_data and args.runs and not args.merge and not args.export_gguf):
        raise LmaError("--out DIR is required (only --from with --save-data runs without it)")
    if args.export_gguf:
        from lma.gguf_export import export_gguf

        if Path(args.out).exists():
            raise LmaError(f"{args.out} already exists: choose a new --out file")
        export_gguf(args.export_gguf, args.base or DEFAULT_BASE, args.out)
        print(f"saved {args.out}; use it with: lma run --agent type2 --model llamacpp:{args.out} --env ENV")
        return 0
    if args.merge:
        merge(args.merge, args.out, args.base)
        print(f"saved {args.out}; use it with: lma run --agent type2 --model transformers:{args.out} --env ENV")
        return 0
    if not args.runs:
        raise LmaError("--from RUN_DIR[,RUN_DIR...] is required (or --merge ADAPTER_DIR)")
    if args.adapter_only and not args.lora:
        raise LmaError("--adapter-only needs --lora")
    for name in ("epochs", "batch_size", "max_steps", "max_length"):
        value = getattr(args, name)
        if value is not None and value <= 0:
            raise LmaError(f"--{name.replace('_', '-')} must be positive")
    settings = TrainSettings(lora=args.lora, epochs=args.epochs, lr=args.lr, batch_size=args.batch_size,
                             max_steps=args.max_steps, max_length=args.max_length, seed=args.seed,
                             adapter_only=args.adapter_only)
    sources = [r for r in args.runs.split(",") if r]
    if not args.out:
        from lma.sft_data import collect_examples, save_examples

        examples, episodes = collect_examples(sources, args.history if args.history is not None else default_history())
        save_examples(examples, args.save_data)
        print(f"wrote {len(examples)} examples from {episodes} episodes to {args.save_data}")
        return 0
    info = finetune(sources, args.base or DEFAULT_BASE, args.out, settings, args.history, args.save_data)
    f = info["figures"]
    print(f"trained on {f['examples']} steps of {info['episodes']} episodes: {f['steps']} optimizer steps, "
          f"loss {f['train_loss']}, {f['seconds']:.0f}s, {f['tokens_per_second']} tokens/s on {f['device']}",
          file=sys.stderr)
    if args.adapter_only:
        print(f"saved the adapter in {args.out}; merge it with: lma finetune --merge {args.out} --out DIR")
    else:
        print(f"saved {args.out}; use it with: lma run --agent type2 --model transformers:{args.out} --env ENV")
    return 0
