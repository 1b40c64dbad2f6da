"""lma's small unCLIP: a CLIP, a prior and a decoder in one folder, trained on a dataset folder.

The folder is self-contained, like a diffusers prior pipeline that carries its own CLIP towers::

    clip/                     the CLIP the parts were trained on (a copy; any lma.images.clip folder)
    prior.safetensors         prior.json     caption embedding -> image embedding
    decoder.safetensors       decoder.json   image embedding -> 32x32 image

Each part is written as a unit: its weights first, its JSON (config, training figures, the
checksum of the CLIP it was trained on) last and by rename, so an interrupted training leaves
no part that looks complete. ``lma train prior`` and ``lma train decoder`` may fill one folder
in two runs; loading checks that both parts were trained on the CLIP in ``clip/``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from safetensors.torch import load_file, save_file

from lma.errors import LmaError
from lma.images.backends import load_clip
from lma.images.clip import SHIPPED, ClipBackend, resolve_device
from lma.images.clip_train import load_dataset
from lma.images.decoder import Decoder, DecoderConfig, DecoderTraining, train_decoder
from lma.images.prior import Prior, PriorConfig, PriorTraining, train_prior

FORMAT = 1
PARTS = ("prior", "decoder")


def is_small_unclip(folder: Path) -> bool:
    """Whether ``folder`` holds at least one finished part of a small unCLIP."""
    return any((folder / f"{part}.json").is_file() for part in PARTS)


def folder_checksum(folder: Path) -> str:
    """sha256 over a folder's files (names and bytes, in sorted order): which CLIP a part was trained on."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _copy_clip(clip_dir: Path, out: Path) -> str:
    """Put a copy of the CLIP in ``out/clip`` (or check the one there is the same); its checksum."""
    wanted = folder_checksum(clip_dir)
    target = out / "clip"
    if target.exists():
        if folder_checksum(target) != wanted:
            raise LmaError(f"{out} already holds parts trained on another CLIP: choose a new folder")
        return wanted
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / f".clip.tmp{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(clip_dir, tmp)
    tmp.rename(target)
    return wanted


def _write_part(out: Path, part: str, module: torch.nn.Module, info: dict[str, Any]) -> None:
    weights, tmp = out / f"{part}.safetensors", out / f".{part}.tmp{os.getpid()}"
    save_file({k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}, str(tmp))
    tmp.rename(weights)
    tmp.write_text(json.dumps({"format": FORMAT, "kind": f"lma-unclip-{part}", **info}, indent=1) + "\n")
    tmp.rename(out / f"{part}.json")


def train(data: str | Path, out: str | Path, *, clip: str | Path | None = None, parts: tuple[str, ...] = PARTS,
          prior: tuple[PriorConfig, PriorTraining] = (PriorConfig(), PriorTraining()),
          decoder: tuple[DecoderConfig, DecoderTraining] = (DecoderConfig(), DecoderTraining()),
          log: Any = None) -> dict[str, Any]:
    """Train ``parts`` of a small unCLIP on the dataset folder ``data`` with the CLIP in ``clip``.

    ``clip`` defaults to the small CLIP shipped with lma. A part already in ``out`` is refused
    (choose a new folder), so a finished model is never half overwritten. Returns each part's
    training figures; ``log(part, step, loss)`` reports progress.
    """
    out, clip_dir = Path(out), Path(clip) if clip is not None else SHIPPED
    for part in parts:
        if (out / f"{part}.json").exists():
            raise LmaError(f"{out} already holds a trained {part}: choose a new folder")
    backend = load_clip(clip_dir, device="cpu")
    size = decoder[0].image_size
    images, texts = load_dataset(data, size)
    image_emb = backend.encode_image(list(images))
    checksum = _copy_clip(clip_dir, out)
    figures: dict[str, Any] = {}
    if "prior" in parts:
        cfg, training = prior
        cfg = PriorConfig(**{**asdict(cfg), "dim": backend.dim})
        model, figures["prior"] = train_prior(backend.encode_text(texts), image_emb, cfg, training,
                                              log=log and (lambda s, v: log("prior", s, v)))
        _write_part(out, "prior", model, {"config": asdict(cfg), "clip_sha256": checksum, "training": figures["prior"]})
    if "decoder" in parts:
        cfg, training = decoder
        cfg = DecoderConfig(**{**asdict(cfg), "dim": backend.dim})
        net, figures["decoder"] = train_decoder(images, image_emb, cfg, training,
                                                log=log and (lambda s, v: log("decoder", s, v)))
        _write_part(out, "decoder", net, {"config": asdict(cfg), "clip_sha256": checksum,
                                          "training": figures["decoder"]})
    return figures


def _read_part(folder: Path, part: str, checksum: str) -> dict[str, Any]:
    path = folder / f"{part}.json"
    if not path.is_file():
        other = next(p for p in PARTS if p != part)
        raise LmaError(f"{folder} has a {other} but no {part}: run `lma train {part} --out {folder}`")
    try:
        info = json.loads(path.read_text())
    except ValueError as exc:
        raise LmaError(f"{path} is not JSON ({exc})") from None
    if info.get("format") != FORMAT or info.get("kind") != f"lma-unclip-{part}":
        raise LmaError(f"{path} is not a format-{FORMAT} lma unCLIP {part}")
    if info.get("clip_sha256") != checksum:
        raise LmaError(f"the {part} in {folder} was trained on another CLIP than {folder / 'clip'}: retrain it")
    return info


def _tuples(config: dict[str, Any]) -> dict[str, Any]:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in config.items()}


class SmallUnclip:
    """The folder's CLIP, prior and decoder as an :class:`~lma.images.unclip.UnclipBackend`."""

    def __init__(self, folder: str | Path, *, device: str | None = None, steps: int | None = None,
                 guidance: float | None = None):
        folder = Path(folder)
        self.device = resolve_device(device or "auto")
        self.clip: ClipBackend = load_clip(folder / "clip", device=self.device)
        checksum = folder_checksum(folder / "clip")
        prior_info, decoder_info = (_read_part(folder, part, checksum) for part in PARTS)
        try:
            self.prior = Prior(PriorConfig(**_tuples(prior_info["config"])))
            self.prior.load_state_dict(load_file(str(folder / "prior.safetensors")))
            self.decoder = Decoder(DecoderConfig(**_tuples(decoder_info["config"])))
            self.decoder.load_state_dict(load_file(str(folder / "decoder.safetensors")))
        except (OSError, TypeError, RuntimeError) as exc:
            raise LmaError(f"cannot load the unCLIP in {folder}: {type(exc).__name__}: {str(exc).splitlines()[0]}") from None
        self.prior, self.decoder = self.prior.to(self.device).eval(), self.decoder.to(self.device).eval()
        self.steps, self.guidance = steps, guidance
        self.name = f"small unCLIP ({folder})"
        self.size = self.decoder.cfg.image_size

    def check_prompt(self, prompt: str) -> None:
        self.clip.encode_text([prompt])

    def embed_image(self, image: Image.Image) -> np.ndarray:
        return self.clip.encode_image([np.asarray(image.convert("RGB"), dtype=np.uint8)])[0]

    def embed_text(self, text: str) -> np.ndarray:
        return self.clip.encode_text([text])[0]

    def prior_embedding(self, prompt: str, seed: int) -> np.ndarray:
        """The prior's image embedding for ``prompt`` (deterministic: ``seed`` is not used)."""
        with torch.no_grad():
            z = self.prior(torch.as_tensor(self.embed_text(prompt))[None].to(self.device))
        return z[0].cpu().numpy()

    def decode_batch(self, embeddings: np.ndarray, seed: int) -> list[Image.Image]:
        """Images for rows of embeddings (each made unit length, as in training), one seed for the batch."""
        z = torch.nn.functional.normalize(torch.as_tensor(np.asarray(embeddings, np.float32)), dim=-1)
        pixels = self.decoder.sample(z.to(self.device), seed=seed, steps=self.steps, guidance=self.guidance)
        return [Image.fromarray(p) for p in pixels]

    def decode(self, embedding: np.ndarray, seed: int) -> Image.Image:
        return self.decode_batch(embedding[None], seed)[0]


def load(folder: str | Path, **options: Any) -> SmallUnclip:
    """The small unCLIP in ``folder``; ``options``: ``device``, ``steps``, ``guidance``."""
    return SmallUnclip(folder, **options)
