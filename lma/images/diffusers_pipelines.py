"""unCLIP backends over diffusers pipelines loaded from local folders: Kandinsky 2.2 and Stable unCLIP.

Both are unCLIP designs: a CLIP image embedding conditions a diffusion decoder. Kandinsky 2.2 also
has the prior (caption -> image embedding) and a CLIP text encoder *in the same space as its image
encoder*, so it supports every manipulation of :mod:`lma.images.unclip`; Stable unCLIP's
image-variation pipeline has neither (its text encoder conditions the UNet, it is not the CLIP
text tower), so it offers variations and interpolations and refuses the rest with one line.

Folders are what ``save_pretrained`` writes (``model_index.json`` naming the pipeline class);
Kandinsky 2.2 is two pipelines, so its folder holds ``prior/`` and ``decoder/``. Loading never
touches the network (``local_files_only=True``), and the class is checked before any weight is
read, so a folder of another pipeline is one clear line, not a stack trace from diffusers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from lma.errors import LmaError

KANDINSKY_PRIOR = "KandinskyV22PriorPipeline"
KANDINSKY_DECODER = "KandinskyV22Pipeline"
STABLE_UNCLIP = "StableUnCLIPImg2ImgPipeline"


def pipeline_class(folder: Path) -> str | None:
    """The ``_class_name`` of the diffusers pipeline saved in ``folder``, or None when it holds none."""
    index = folder / "model_index.json"
    if not index.is_file():
        return None
    try:
        return str(json.loads(index.read_text())["_class_name"])
    except (ValueError, KeyError, TypeError) as exc:
        raise LmaError(f"{index} is not a diffusers model index ({type(exc).__name__}: {exc})") from None


def is_diffusers_folder(folder: Path) -> bool:
    """Whether ``folder`` looks like one of the pipelines this module loads (by its layout only)."""
    return pipeline_class(folder) is not None or (folder / "prior" / "model_index.json").is_file()


def _device(device: str | None) -> str:
    import torch

    return device or ("cuda" if torch.cuda.is_available() else "cpu")


def _load(cls: Any, folder: Path, expected: str, device: str) -> Any:
    """``cls.from_pretrained(folder)`` offline, after checking the folder holds an ``expected`` pipeline."""
    found = pipeline_class(folder)
    if found is None:
        raise LmaError(f"{folder} is not a diffusers pipeline folder (no model_index.json)")
    if found != expected:
        raise LmaError(f"{folder} holds a {found}, not a {expected}")
    try:
        pipe = cls.from_pretrained(str(folder), local_files_only=True)
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise LmaError(f"cannot load the {expected} in {folder}: {str(exc).splitlines()[0]}") from None
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device)


def _generator(device: str, seed: int) -> Any:
    import torch

    return torch.Generator(device=device).manual_seed(seed)


def _check_prompt(tokenizer: Any, prompt: str) -> None:
    """Refuse a prompt the CLIP text encoder would silently truncate."""
    n = len(tokenizer(prompt).input_ids)
    if n > tokenizer.model_max_length:
        raise LmaError(f"the prompt is {n} tokens; this text encoder takes at most {tokenizer.model_max_length}")


class _ImageEncoder:
    """A CLIP vision tower with projection and its image processor: image -> image embedding."""

    def __init__(self, encoder: Any, processor: Any, device: str):
        self.encoder, self.processor, self.device = encoder, processor, device

    def __call__(self, image: Image.Image) -> np.ndarray:
        import torch

        pixels = self.processor(images=image.convert("RGB"), return_tensors="pt").pixel_values
        with torch.no_grad():
            out = self.encoder(pixels.to(self.device, self.encoder.dtype)).image_embeds
        return out[0].float().cpu().numpy()


class Kandinsky22:
    """Kandinsky 2.2 as an unCLIP backend: prior, decoder, and its joint CLIP image/text space."""

    def __init__(self, folder: str | Path, *, device: str | None = None, steps: int = 25, prior_steps: int = 25,
                 size: int = 512, guidance: float = 4.0):
        from diffusers import KandinskyV22Pipeline, KandinskyV22PriorPipeline

        folder = Path(folder)
        self.device = _device(device)
        self.prior = _load(KandinskyV22PriorPipeline, folder / "prior", KANDINSKY_PRIOR, self.device)
        self.decoder = _load(KandinskyV22Pipeline, folder / "decoder", KANDINSKY_DECODER, self.device)
        self.steps, self.prior_steps, self.size, self.guidance = steps, prior_steps, size, guidance
        self.name = f"Kandinsky 2.2 ({folder})"
        self._encode = _ImageEncoder(self.prior.image_encoder, self.prior.image_processor, self.device)
        self._negative: Any = None

    def check_prompt(self, prompt: str) -> None:
        _check_prompt(self.prior.tokenizer, prompt)

    def embed_image(self, image: Image.Image) -> np.ndarray:
        return self._encode(image)

    def embed_text(self, text: str) -> np.ndarray:
        import torch

        self.check_prompt(text)
        tok = self.prior.tokenizer(text, padding="max_length", truncation=True, return_tensors="pt")
        with torch.no_grad():
            out = self.prior.text_encoder(tok.input_ids.to(self.device),
                                          attention_mask=tok.attention_mask.to(self.device)).text_embeds
        return out[0].float().cpu().numpy()

    def prior_embedding(self, prompt: str, seed: int) -> np.ndarray:
        self.check_prompt(prompt)
        out = self.prior(prompt, num_inference_steps=self.prior_steps, generator=_generator(self.device, seed))
        return out.image_embeds[0].float().cpu().numpy()

    def decode(self, embedding: np.ndarray, seed: int) -> Image.Image:
        import torch

        if self._negative is None:  # the decoder's unconditional embedding: CLIP's embedding of a blank image
            with torch.no_grad():
                self._negative = self.prior.get_zero_embed(device=self.device)
        z = torch.as_tensor(embedding, dtype=self._negative.dtype, device=self.device)[None]
        return self.decoder(image_embeds=z, negative_image_embeds=self._negative, height=self.size, width=self.size,
                            num_inference_steps=self.steps, guidance_scale=self.guidance,
                            generator=_generator(self.device, seed)).images[0]


class StableUnclip:
    """Stable unCLIP image variations as an unCLIP backend: image embedding -> decoder, no prior."""

    def __init__(self, folder: str | Path, *, device: str | None = None, steps: int = 20, size: int | None = None,
                 guidance: float = 10.0):
        from diffusers import StableUnCLIPImg2ImgPipeline

        folder = Path(folder)
        self.device = _device(device)
        self.pipe = _load(StableUnCLIPImg2ImgPipeline, folder, STABLE_UNCLIP, self.device)
        self.steps, self.size, self.guidance = steps, size, guidance
        self.name = f"Stable unCLIP ({folder})"
        self._encode = _ImageEncoder(self.pipe.image_encoder, self.pipe.feature_extractor, self.device)

    def check_prompt(self, prompt: str) -> None:
        _check_prompt(self.pipe.tokenizer, prompt)

    def embed_image(self, image: Image.Image) -> np.ndarray:
        return self._encode(image)

    def embed_text(self, text: str) -> np.ndarray:
        raise LmaError(f"{self.name} has no CLIP text tower in its image space: text diffs need Kandinsky 2.2 "
                       "or lma's small unCLIP")

    def prior_embedding(self, prompt: str, seed: int) -> np.ndarray:
        raise LmaError(f"{self.name} has no prior: generating from a caption needs Kandinsky 2.2 or lma's small unCLIP")

    def decode(self, embedding: np.ndarray, seed: int) -> Image.Image:
        import torch

        z = torch.as_tensor(embedding, dtype=self.pipe.image_encoder.dtype, device=self.device)[None]
        return self.pipe(image_embeds=z, prompt="", height=self.size, width=self.size, noise_level=0,
                         num_inference_steps=self.steps, guidance_scale=self.guidance,
                         generator=_generator(self.device, seed)).images[0]


def load(folder: str | Path, **options: Any) -> Kandinsky22 | StableUnclip:
    """The backend for a diffusers folder: Stable unCLIP by its class, Kandinsky 2.2 by ``prior/`` + ``decoder/``.

    ``options`` (``device``, ``steps``, ``size``, ``guidance``; Kandinsky also ``prior_steps``)
    go to the backend; ``device`` defaults to ``cuda`` when present.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise LmaError(f"no model folder {folder}")
    found = pipeline_class(folder)
    if found == STABLE_UNCLIP:
        return StableUnclip(folder, **options)
    if found is None and (folder / "prior").is_dir():
        return Kandinsky22(folder, **options)
    if found in (KANDINSKY_PRIOR, KANDINSKY_DECODER):
        raise LmaError(f"{folder} is one half of Kandinsky 2.2: give the folder that holds prior/ and decoder/")
    what = f"a {found}" if found else "no diffusers pipeline"
    raise LmaError(f"{folder} holds {what}; lma loads {STABLE_UNCLIP}, or Kandinsky 2.2 as prior/ + decoder/")
