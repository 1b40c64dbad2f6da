"""``lma finetune``: train a planner on recorded runs (:mod:`lma.train.finetune`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lma.errors import LmaError
from lma.train.assemble import LanguageSpec, VisionSpec
from lma.train.finetune import DEFAULT_BASE

HELP = "fine-tune a local planner on recorded trajectories (Type II)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--from", dest="runs", metavar="RUN_DIR[,RUN_DIR...]",
                   help="run folders whose successful episodes are the training data (or .jsonl data files)")
    p.add_argument("--base", help=f"model to start from: llamacpp:NAME_OR_GGUF or transformers:DIR "
                                  f"(default: {DEFAULT_BASE}; with --merge: the adapter's base)")
    p.add_argument("--out", help="folder to write the fine-tuned model to (must not exist)")
    p.add_argument("--lora", action="store_true", help="train LoRA adapters (merged into the saved model)")
    p.add_argument("--adapter-only", action="store_true", help="with --lora: save the adapter alone, unmerged")
    p.add_argument("--lora-rank", type=int, default=16, help="with --lora: the adapters' rank")
    p.add_argument("--lora-layers", type=int, metavar="K",
                   help="with --lora: adapt the top K decoder layers only; the frozen ones below run once per "
                        "example, so an epoch costs about K/N of a full one (lma.train.frozen_layers)")
    p.add_argument("--warm-start", metavar="ADAPTER_DIR|SPEC",
                   help="with --lora: continue from this adapter (--adapter-only, same base, rank and layers), or "
                        "from the LoRA GGUF of a llamacpp spec (llamacpp:smollm2-135m-babyai, llamacpp:BASE?lora=F): "
                        "the next DAgger round without retraining from the base")
    p.add_argument("--merge", metavar="ADAPTER_DIR", help="merge an adapter saved with --adapter-only; no training")
    p.add_argument("--export-gguf", metavar="MODEL_OR_ADAPTER_DIR",
                   help="write MODEL_DIR (fine-tuned from a GGUF --base) as a GGUF file --out for llama.cpp; "
                        "an adapter folder (--lora --adapter-only) becomes a LoRA GGUF applied over the base")
    p.add_argument("--max-per-episode", type=int, metavar="K",
                   help="draw at most K examples from each episode (with --seed): long failed DAgger episodes "
                        "label the same loop at every step")
    p.add_argument("--save-data", metavar="FILE.jsonl",
                   help="write the training examples to this file (without --out: only that, no training)")
    p.add_argument("--epochs", type=float, default=1.0)
    p.add_argument("--lr", type=float, help="learning rate (default: 1e-3 with --lora, else 5e-5)")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--max-steps", type=int, help="stop after this many optimizer steps")
    p.add_argument("--max-length", type=int, default=1024, help="longer examples (in tokens) are skipped")
    p.add_argument("--history", type=int,
                   help="past steps in each prompt (default: what saved example files record, else the agents' default)")
    p.add_argument("--freeze-vision", action="store_true",
                   help="a vision-language base: keep its vision tower as it is (train LM adapters and projector)")
    p.add_argument("--new-vision", metavar="SIZE/PATCH[/WIDTH/LAYERS]",
                   help="give a text base a new vision tower, trained from the runs' frames with the model "
                        "(e.g. 112/16 for BabyAI's POV frames: one image token per tile)")
    p.add_argument("--new-language", metavar="WIDTH/LAYERS",
                   help="with --new-vision: a new small language model (the base's tokenizer only) in place of the "
                        "base's, trained in full; cheap enough on a CPU for a captioner (e.g. 128/2)")
    p.add_argument("--pretrain-vision", type=int, default=0, metavar="EPOCHS",
                   help="with --new-vision: first teach the new tower to name what each patch of the frame shows "
                        "(envs with data['tiles'], e.g. babyai/balrog-*) for EPOCHS epochs (lma.train.tiles)")
    p.add_argument("--tiles", action="store_true",
                   help="train a tile reader, not a planner: a new vision tower (--new-vision) that names what each "
                        "patch of the frame shows (envs with data['tiles']); use it with --perceiver tiles:OUT")
    p.add_argument("--caption", action="store_true",
                   help="train a scene captioner, not a planner: each frame -> the env's own sentences for it "
                        "(envs with data['scene']); use it with --perceiver scene:transformers:OUT")
    p.add_argument("--save-every", type=int, metavar="STEPS",
                   help="keep a checkpoint every STEPS optimizer steps; the same command run again resumes")
    p.add_argument("--seed", type=int, default=0)


def main(args: argparse.Namespace) -> int:
    from lma.train.finetune import finetune, merge, tile_reader
    from lma.train.trainer import TrainSettings

    if not args.out and not (args.save_data and args.runs and not args.merge and not args.export_gguf):
        raise LmaError("--out DIR is required (only --from with --save-data runs without it)")
    if args.export_gguf:
        from lma.train.gguf_export import export_gguf, export_lora_gguf

        if Path(args.out).exists():
            raise LmaError(f"{args.out} already exists: choose a new --out file")
        base = args.base or DEFAULT_BASE
        if (Path(args.export_gguf) / "adapter_config.json").is_file():  # a LoRA adapter: applied over the base
            manifest = export_lora_gguf(args.export_gguf, base, args.out)
            print(f"saved the adapter {args.out} and its manifest {manifest}; use it with: lma run --agent type2 "
                  f"--model '{base}?lora={args.out}' --env ENV")
        else:
            export_gguf(args.export_gguf, base, args.out)
            print(f"saved {args.out}; use it with: lma run --agent type2 --model llamacpp:{args.out} --env ENV")
        return 0
    if args.merge:
        merge(args.merge, args.out, args.base)
        print(f"saved {args.out}; use it with: lma run --agent type2 --model transformers:{args.out} --env ENV")
        return 0
    if not args.runs:
        raise LmaError("--from RUN_DIR[,RUN_DIR...] is required (or --merge ADAPTER_DIR)")
    for flag in ("adapter_only", "lora_layers", "warm_start"):
        if getattr(args, flag) and not args.lora:
            raise LmaError(f"--{flag.replace('_', '-')} needs --lora")
    if args.pretrain_vision < 0:
        raise LmaError("--pretrain-vision must be a number of epochs (0: none)")
    for name in ("epochs", "batch_size", "max_steps", "max_length", "save_every", "lora_rank", "lora_layers",
                 "max_per_episode"):
        value = getattr(args, name)
        if value is not None and value <= 0:
            raise LmaError(f"--{name.replace('_', '-')} must be positive")
    settings = TrainSettings(lora=args.lora, epochs=args.epochs, lr=args.lr, batch_size=args.batch_size,
                             max_steps=args.max_steps, max_length=args.max_length, seed=args.seed,
                             adapter_only=args.adapter_only, save_every=args.save_every,
                             lora_rank=args.lora_rank, lora_layers=args.lora_layers, warm_start=args.warm_start,
                             max_per_episode=args.max_per_episode)
    sources = [r for r in args.runs.split(",") if r]
    if args.tiles:
        if args.caption or args.pretrain_vision or args.new_language or args.save_data:
            raise LmaError("--tiles trains a tile reader alone: drop --caption, --pretrain-vision, --new-language "
                           "and --save-data")
        f = tile_reader(sources, args.out, VisionSpec.parse(args.new_vision) if args.new_vision else None,
                        settings)["figures"]
        print(f"trained on {f['frames']} frames: {f['steps']} steps, {f['seconds']:.0f}s; held-out patches named "
              f"right: {f.get('held_out_patches_right')}", file=sys.stderr)
        print(f"saved {args.out}; use it with: lma run --agent type2 --perceiver tiles:{args.out} --env ENV "
              "--env-arg text=goal")
        return 0
    if not args.out:
        from lma.train.data import collect_examples, save_examples, training_history

        history = training_history(sources, args.history)
        examples, episodes = collect_examples(sources, history, args.max_per_episode, args.seed)
        save_examples(examples, args.save_data, history)
        print(f"wrote {len(examples)} examples from {episodes} episodes to {args.save_data}")
        return 0
    info = finetune(sources, args.base or DEFAULT_BASE, args.out, settings, args.history, args.save_data,
                    freeze_vision=args.freeze_vision,
                    new_vision=VisionSpec.parse(args.new_vision) if args.new_vision else None,
                    new_language=LanguageSpec.parse(args.new_language) if args.new_language else None,
                    caption=args.caption, pretrain_vision=args.pretrain_vision)
    f = info["figures"]
    print(f"trained on {f['examples']} examples from {info['episodes']} episodes: {f['steps']} optimizer steps, "
          f"loss {f['train_loss']}, {f['seconds']:.0f}s, {f['tokens_per_second']} tokens/s on {f['device']}",
          file=sys.stderr)
    if args.adapter_only:
        print(f"saved the adapter in {args.out}; merge it with: lma finetune --merge {args.out} --out DIR")
    elif args.caption:
        print(f"saved {args.out}; use it with: lma run --agent type2 --perceiver scene:transformers:{args.out} "
              "--env ENV --env-arg text=goal")
    else:
        print(f"saved {args.out}; use it with: lma run --agent type2 --model transformers:{args.out} --env ENV")
    return 0
