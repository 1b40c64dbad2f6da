"""Fine-tuning speed: training tokens per second of ``lma finetune``'s trainer, LoRA and full.

    python benchmarks/finetune_speed.py --data runs/babyai-expert.jsonl [--base llamacpp:smollm2-135m]
        [--steps 20] [--batch-size 16] [--modes lora,top:8,full]

``--data`` is a file written by ``lma finetune --from RUNS --save-data FILE.jsonl`` (real planner
prompts). Tokens are the non-padding tokens of the batches trained on (prompt + target), counted
by the transformers Trainer, over the whole run (the first, warm-up step included). Every mode
trains one epoch over the same first ``steps x batch-size`` examples. ``top:K`` is LoRA on the top K
decoder layers (``--lora-layers K``); its time includes the one pass of the frozen layers, so its
figure is what an epoch costs.
Runs on CUDA when present, else on the CPU (bf16 autocast where the CPU has it). Prints one line
per mode; nothing is saved.
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

from lma.train.data import load_examples
from lma.train.trainer import TrainSettings, load_base, train


def measure(base: str, data: str, mode: str, steps: int, batch_size: int) -> dict:
    model, tokenizer = load_base(base)
    examples = load_examples(data)[:steps * batch_size]
    top = int(mode.partition(":")[2]) if mode.startswith("top:") else None
    settings = TrainSettings(lora=mode == "lora" or top is not None, lora_layers=top, batch_size=batch_size,
                             max_steps=steps)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        _, figures = train(model, tokenizer, examples, settings, Path(tmp))
        figures["wall_seconds"] = round(time.perf_counter() - start, 1)
    return figures


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True)
    p.add_argument("--base", default="llamacpp:smollm2-135m")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--modes", default="lora,full")
    args = p.parse_args()
    import torch

    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else f"CPU ({platform.processor() or 'x86_64'}, {torch.get_num_threads()} threads)"
    print(f"base {args.base}; {args.steps} steps of batch {args.batch_size}; device: {device}")
    for mode in args.modes.split(","):
        f = measure(args.base, args.data, mode, args.steps, args.batch_size)
        print(f"{mode:6s} {f['tokens_per_second']:>9.1f} tokens/s  ({f['tokens']} tokens in {f['seconds']}s, "
              f"{f['steps']} steps, loss {f['train_loss']}, bf16={f['bf16']})", flush=True)


if __name__ == "__main__":
    main()
