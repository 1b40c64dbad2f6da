"""The unCLIP manipulations (DALL-E 2, Ramesh et al. 2022) over any unCLIP backend.

unCLIP generates in two stages: a *prior* maps a caption to a CLIP image embedding, and a
*decoder* turns an image embedding into pixels. Because the decoder only sees the embedding,
editing the embedding edits the picture, which gives the paper's three manipulations:

* **variations**: decode the embedding of an image again with fresh decoder noise (``strength``
  also turns the embedding towards a random direction, for wider variations);
* **interpolations**: decode points on the great circle (slerp) between two images' embeddings,
  with the decoder noise held fixed so only the embedding changes along ``t``;
* **text diffs**: turn the image embedding towards the normalised difference of two captions'
  text embeddings (``"a red square" -> "a green square"``), which works because CLIP puts text
  and images in one space.

A backend (:class:`UnclipBackend`) is lma's small unCLIP (:mod:`lma.images.small_unclip`) or a
diffusers pipeline from a local folder (:mod:`lma.images.diffusers_pipelines`); :func:`load`
picks by the folder's layout. Bad input (a file that is not an image, ``t`` outside [0, 1], a
prompt longer than the text encoder takes) raises :class:`~lma.errors.LmaError` with one line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import numpy as np
from PIL import Image, UnidentifiedImageError

from lma.errors import LmaError

ImageLike = Image.Image | np.ndarray | str | Path


class UnclipBackend(Protocol):
    """What the manipulations need: CLIP embeddings, a prior and a decoder. Embeddings are 1-D float arrays."""

    name: str

    def check_prompt(self, prompt: str) -> None:
        """Raise LmaError when the text encoder cannot take ``prompt`` whole."""

    def embed_image(self, image: Image.Image) -> np.ndarray:
        """The CLIP image embedding of ``image`` (the decoder's input space)."""

    def embed_text(self, text: str) -> np.ndarray:
        """The CLIP text embedding of ``text``, in the same space as :meth:`embed_image`."""

    def prior_embedding(self, prompt: str, seed: int) -> np.ndarray:
        """An image embedding for the caption ``prompt``, sampled by the prior."""

    def decode(self, embedding: np.ndarray, seed: int) -> Image.Image:
        """An image for ``embedding``; ``seed`` fixes the decoder's noise."""


def as_image(image: ImageLike) -> Image.Image:
    """An RGB PIL image from a PIL image, an HxWx3 uint8 array or a path; anything else is one line."""
    if isinstance(image, Image.Image):
        return image.convert("RGB")
    if isinstance(image, np.ndarray):
        if image.ndim != 3 or image.shape[2] not in (3, 4) or image.dtype != np.uint8:
            raise LmaError(f"an image array must be HxWx3 uint8, not {image.dtype} of shape {image.shape}")
        return Image.fromarray(image).convert("RGB")
    path = Path(image)
    try:
        with Image.open(path) as opened:
            return opened.convert("RGB")
    except FileNotFoundError:
        raise LmaError(f"no image file {path}") from None
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise LmaError(f"{path} is not an image ({type(exc).__name__})") from None


def _unit_range(name: str, value: float) -> float:
    if not 0.0 <= value <= 1.0:
        raise LmaError(f"{name} must be in [0, 1], not {value}")
    return float(value)


def slerp(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """The point a fraction ``t`` along the great circle from ``a`` to ``b``, its norm interpolated linearly.

    CLIP embeddings live on (a shell around) the unit sphere, so a straight line between two of
    them cuts through the low-norm interior the decoder never saw; slerp stays on the shell.
    """
    _unit_range("t", t)
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    ua, ub = a / max(na, 1e-12), b / max(nb, 1e-12)
    omega = float(np.arccos(np.clip(np.dot(ua, ub), -1.0, 1.0)))
    if omega < 1e-6:
        direction = ua
    else:
        direction = (np.sin((1 - t) * omega) * ua + np.sin(t * omega) * ub) / np.sin(omega)
    return (direction * ((1 - t) * na + t * nb)).astype(np.float32)


def generate(backend: UnclipBackend, prompt: str, *, seed: int = 0) -> Image.Image:
    """An image for the caption ``prompt``: the prior's image embedding, decoded."""
    backend.check_prompt(prompt)
    return backend.decode(backend.prior_embedding(prompt, seed), seed)


def vary(backend: UnclipBackend, image: ImageLike, strength: float = 0.0, *, seed: int = 1) -> Image.Image:
    """A variation of ``image``: its embedding decoded with new noise, turned ``strength`` of the way to a random one.

    At ``strength=0`` this is the paper's variation (same embedding, new decoder noise); higher
    values also move the embedding towards a random direction of the same norm (slerp), so
    attributes the embedding holds start to change.
    """
    _unit_range("strength", strength)
    z = backend.embed_image(as_image(image))
    if strength > 0:
        r = np.random.default_rng(seed).standard_normal(z.shape)
        z = slerp(z, r / np.linalg.norm(r) * np.linalg.norm(z), strength)
    return backend.decode(z, seed)


def interpolate(backend: UnclipBackend, a: ImageLike, b: ImageLike, t: float, *, seed: int = 0) -> Image.Image:
    """The image a fraction ``t`` of the way from ``a`` to ``b``: slerp of their CLIP image embeddings, decoded."""
    _unit_range("t", t)
    za, zb = backend.embed_image(as_image(a)), backend.embed_image(as_image(b))
    return backend.decode(slerp(za, zb, t), seed)


def interpolation_path(backend: UnclipBackend, a: ImageLike, b: ImageLike, steps: int, *,
                       seed: int = 0) -> list[Image.Image]:
    """``steps`` images at evenly spaced ``t`` from 0 to 1, the two embeddings computed once."""
    if steps < 2:
        raise LmaError(f"an interpolation needs at least 2 steps, not {steps}")
    za, zb = backend.embed_image(as_image(a)), backend.embed_image(as_image(b))
    return [backend.decode(slerp(za, zb, i / (steps - 1)), seed) for i in range(steps)]


def text_diff_embedding(backend: UnclipBackend, z: np.ndarray, from_text: str, to_text: str,
                        amount: float) -> np.ndarray:
    """``z`` turned a fraction ``amount`` of the way towards the normalised ``to_text - from_text`` direction.

    The paper slerps between the image embedding and the unit text-diff vector, keeping the
    norm of the image embedding; ``amount`` 0.25-0.5 changes the named attribute while most of
    the rest survives.
    """
    _unit_range("amount", amount)
    diff = backend.embed_text(to_text) - backend.embed_text(from_text)
    norm = float(np.linalg.norm(diff))
    if norm < 1e-8:
        raise LmaError(f"{from_text!r} and {to_text!r} have the same text embedding: there is no direction to move in")
    return slerp(z, diff / norm * float(np.linalg.norm(z)), amount)


def text_diff(backend: UnclipBackend, image: ImageLike, from_text: str, to_text: str, amount: float = 0.5, *,
              seed: int = 0) -> Image.Image:
    """``image`` edited by the caption change ``from_text -> to_text`` (a text diff), decoded."""
    for text in (from_text, to_text):
        backend.check_prompt(text)
    z = backend.embed_image(as_image(image))
    return backend.decode(text_diff_embedding(backend, z, from_text, to_text, amount), seed)


def default_model() -> Path:
    """The folder of lma's shipped small unCLIP (trained on the synthetic scene set)."""
    return Path(__file__).parent / "weights" / "unclip"


def load(model: str | Path | None = None, **options: Any) -> UnclipBackend:
    """The backend in folder ``model`` (default: the shipped small unCLIP), by its layout.

    A folder written by ``lma train unclip`` (``unclip.json``) loads lma's small model; a
    diffusers folder loads Kandinsky 2.2 or Stable unCLIP. ``options`` go to the backend
    (``device``, ``steps``, ...).
    """
    from lma.images import diffusers_pipelines, small_unclip

    folder = Path(model) if model is not None else default_model()
    if small_unclip.is_small_unclip(folder):
        return small_unclip.load(folder, **options)
    if diffusers_pipelines.is_diffusers_folder(folder):
        return diffusers_pipelines.load(folder, **options)
    if not folder.is_dir():
        raise LmaError(f"no model folder {folder}")
    raise LmaError(f"{folder} is neither an lma unCLIP folder (unclip.json) nor a diffusers pipeline folder")
