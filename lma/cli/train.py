"""``lma train scenes | clip | prior | decoder | unclip``: make the synthetic scene set, train the small image models on a folder.

Each subcommand is one row of :data:`SUBCOMMANDS`: its help, a function adding its flags and a
function running it; a new model's training joins by adding a row.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lma.errors import LmaError

HELP = "train lma's small image models (CLIP, unCLIP prior and decoder) on a dataset folder, or write the synthetic scene set"


def _positive(args: argparse.Namespace, *names: str) -> None:
    for name in names:
        if getattr(args, name) is not None and getattr(args, name) <= 0:
            raise LmaError(f"--{name.replace('_', '-')} must be positive")


def _given(args: argparse.Namespace, *names: str) -> dict[str, Any]:
    """The flags among ``names`` given on the command line (the rest keep the library's defaults)."""
    return {n: getattr(args, n) for n in names if getattr(args, n) is not None}


def _scenes_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, help="new folder for the dataset (images/ + data.jsonl)")
    p.add_argument("-n", "--count", type=int, default=20000, help="number of scenes (default 20000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--size", type=int, default=32, help="image side in pixels (default 32)")
    p.add_argument("--relation-share", type=float, default=0.3, help="share of two-object scenes (default 0.3)")
    p.add_argument("--split", choices=("all", "train", "heldout"), default="all",
                   help="train: leave out the held-out colour-shape pairs; heldout: only those")


def _scenes(args: argparse.Namespace) -> int:
    from lma.images.scenes import make_scenes, write_dataset

    _positive(args, "count", "size")
    if not 0 <= args.relation_share <= 1:
        raise LmaError("--relation-share must be between 0 and 1")
    scenes = make_scenes(args.count, args.seed, args.relation_share, args.split)
    write_dataset(args.out, scenes, args.size)
    print(f"wrote {len(scenes)} scenes to {args.out}")
    return 0


def _clip_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True, help="dataset folder: data.jsonl (image, text) + the images")
    p.add_argument("--out", required=True, help="new folder for the trained model")
    # defaults (None here) are those of TrainConfig and ClipConfig, which torch-free argparse cannot import
    p.add_argument("--steps", type=int, help="optimizer steps (default 1200)")
    p.add_argument("--batch-size", type=int, help="default 64")
    p.add_argument("--lr", type=float, help="peak learning rate (default 2e-3)")
    p.add_argument("--image-size", type=int, help="image side the model sees (default 32)")
    p.add_argument("--dim", type=int, help="embedding size (default 64)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="cpu, cuda or auto (default: cuda when present)")


def _clip(args: argparse.Namespace) -> int:
    from lma.images.clip import ClipConfig
    from lma.images.clip_train import TrainConfig, train_clip

    _positive(args, "steps", "batch_size", "lr", "image_size", "dim")
    if Path(args.out).exists():
        raise LmaError(f"{args.out} already exists: choose a new folder for the model")
    train = TrainConfig(**_given(args, "steps", "batch_size", "lr"), seed=args.seed, device=args.device)
    model = ClipConfig(**_given(args, "image_size", "dim"))
    _, figures = train_clip(args.data, args.out, train, model,
                            log=lambda step, loss: print(f"step {step} loss {loss:.4f}", file=sys.stderr, flush=True))
    print(f"trained the small CLIP for {figures['steps']} steps on {figures['examples']} examples "
          f"({figures['seconds']:.0f}s on {figures['device']}, loss {figures['loss']}); saved {args.out}")
    return 0


def _unclip_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True, help="dataset folder: data.jsonl (image, text) + the images")
    p.add_argument("--out", required=True, help="unCLIP folder to write the part(s) into (new, or one holding the other part)")
    p.add_argument("--clip", metavar="DIR", help="the CLIP to train on (default: lma's shipped small CLIP); copied into OUT/clip")
    p.add_argument("--prior-steps", type=int, help="prior optimizer steps (default 250)")
    p.add_argument("--decoder-steps", type=int, help="decoder optimizer steps (default 4000)")
    p.add_argument("--minutes", type=float, help="stop the decoder's training after this many minutes")
    p.add_argument("--batch-size", type=int, help="decoder batch (default 32)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="cpu, cuda or auto (default: cuda when present)")


def _unclip_parts(parts: tuple[str, ...]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        from lma.images import small_unclip
        from lma.images.decoder import DecoderConfig, DecoderTraining
        from lma.images.prior import PriorConfig, PriorTraining

        _positive(args, "prior_steps", "decoder_steps", "minutes", "batch_size")
        prior = PriorTraining(**{k: v for k, v in [("steps", args.prior_steps)] if v}, seed=args.seed)
        decoder = DecoderTraining(**{k: v for k, v in [("steps", args.decoder_steps), ("batch_size", args.batch_size)] if v},
                                  max_seconds=args.minutes * 60 if args.minutes else None, seed=args.seed,
                                  device=args.device)
        figures = small_unclip.train(args.data, args.out, clip=args.clip, parts=parts,
                                     prior=(PriorConfig(), prior), decoder=(DecoderConfig(), decoder),
                                     log=lambda part, step, loss: print(f"{part} step {step} loss {loss:.4f}",
                                                                        file=sys.stderr, flush=True))
        for part, got in figures.items():
            print(f"trained the {part} for {got['steps']} steps ({got['seconds']:.0f}s); saved in {args.out}")
        return 0

    return run


Subcommand = tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]
SUBCOMMANDS: dict[str, Subcommand] = {
    "scenes": ("write the synthetic scene set (coloured shapes, counts, relations) as a dataset folder",
               _scenes_arguments, _scenes),
    "clip": ("train the small CLIP dual encoder (contrastive) on a dataset folder", _clip_arguments, _clip),
    "prior": ("train an unCLIP prior (caption embedding -> image embedding) on a dataset folder",
              _unclip_arguments, _unclip_parts(("prior",))),
    "decoder": ("train an unCLIP diffusion decoder (image embedding -> image) on a dataset folder",
                _unclip_arguments, _unclip_parts(("decoder",))),
    "unclip": ("train the prior and the decoder of a small unCLIP into one folder",
               _unclip_arguments, _unclip_parts(("prior", "decoder"))),
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="what", required=True, metavar="{" + ",".join(SUBCOMMANDS) + "}")
    for name, (help_text, arguments, run) in SUBCOMMANDS.items():
        arguments(sub.add_parser(name, help=help_text))
        sub.choices[name].set_defaults(run_train=run)


def main(args: argparse.Namespace) -> int:
    return args.run_train(args)
