"""``lma image generate | vary | interpolate | edit``: the unCLIP manipulations on image files.

* ``lma image generate --prompt TEXT --out FILE.png``
* ``lma image vary IMG --out FILE.png [--strength S]``
* ``lma image interpolate A.png B.png --steps N --out DIR`` (N PNGs, ``t`` from 0 to 1)
* ``lma image edit IMG --from TEXT --to TEXT --out FILE.png [--amount A]`` (a text diff)

Each takes ``--model DIR`` (default: lma's small unCLIP; a Kandinsky 2.2 or Stable unCLIP
diffusers folder works too), ``--seed``, ``--decoder-steps`` and ``--device``. The library
functions are in :mod:`lma.images.unclip`; a file that is not an image, a prompt too long for the
text encoder or a model folder of the wrong kind is one line and exit code 2.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from lma.errors import LmaError

HELP = "unCLIP image manipulations: generate, vary, interpolate, edit (text diff)"


def _common(p: argparse.ArgumentParser, out_help: str) -> None:
    p.add_argument("--out", required=True, help=out_help)
    p.add_argument("--model", metavar="DIR", help="unCLIP model folder (default: lma's small unCLIP)")
    p.add_argument("--seed", type=int, default=0, help="decoder noise seed (default 0)")
    p.add_argument("--decoder-steps", type=int, help="diffusion sampling steps (default: the model's)")
    p.add_argument("--device", help="cpu or cuda (default: cuda when present)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="image_command", required=True, metavar="{generate,vary,interpolate,edit}")
    p = sub.add_parser("generate", help="draw an image for a caption (prior, then decoder)")
    p.add_argument("--prompt", required=True)
    _common(p, "PNG file to write")
    p = sub.add_parser("vary", help="a variation of an image (its CLIP embedding decoded with new noise)")
    p.add_argument("image")
    p.add_argument("--strength", type=float, default=0.0, help="0-1: how far the embedding may move (default 0)")
    _common(p, "PNG file to write")
    p = sub.add_parser("interpolate", help="images between two images (slerp of their CLIP embeddings)")
    p.add_argument("a")
    p.add_argument("b")
    p.add_argument("--steps", type=int, default=5, help="number of images, t from 0 to 1 (default 5)")
    _common(p, "folder to write 00.png ... into")
    p = sub.add_parser("edit", help="edit an image by a caption change (text diff)")
    p.add_argument("image")
    p.add_argument("--from", dest="from_text", required=True, help="caption of what the image shows now")
    p.add_argument("--to", dest="to_text", required=True, help="caption of what it should show")
    p.add_argument("--amount", type=float, default=0.5, help="0-1: how far to turn towards the change (default 0.5)")
    _common(p, "PNG file to write")


def _png(path: str) -> Path:
    out = Path(path)
    if out.suffix.lower() != ".png":
        raise LmaError(f"--out must name a .png file, not {path}")
    if not out.parent.is_dir():
        raise LmaError(f"no folder {out.parent} for --out")
    return out


def main(args: argparse.Namespace) -> int:
    from lma.images import unclip

    options: dict[str, Any] = {k: v for k, v in (("device", args.device), ("steps", args.decoder_steps)) if v}
    command = args.image_command
    out = Path(args.out) if command == "interpolate" else _png(args.out)
    backend = unclip.load(args.model, **options)
    if command == "interpolate":
        images = unclip.interpolation_path(backend, args.a, args.b, args.steps, seed=args.seed)
        out.mkdir(parents=True, exist_ok=True)
        for i, image in enumerate(images):
            image.save(out / f"{i:02d}.png")
        print(f"wrote {len(images)} images to {out}")
        return 0
    if command == "generate":
        image = unclip.generate(backend, args.prompt, seed=args.seed)
    elif command == "vary":
        image = unclip.vary(backend, args.image, args.strength, seed=args.seed)
    else:
        image = unclip.text_diff(backend, args.image, args.from_text, args.to_text, args.amount, seed=args.seed)
    image.save(out)
    print(f"wrote {out} ({image.width}x{image.height}, {backend.name})")
    return 0
