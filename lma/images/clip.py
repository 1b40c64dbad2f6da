"""CLIP: one embedding space for images and texts, behind the small :class:`ClipBackend` protocol.

unCLIP's manipulations (variations, interpolations, text diffs) and lma's multimodal search only
need two calls: embed images, embed texts, both as unit vectors in one space. Any dual encoder
that provides them is a backend:

* :class:`SmallClip`, lma's own small dual encoder (a conv image tower, a small text transformer
  over a word tokenizer), trained here by :mod:`lma.images.clip_train` since real CLIP weights
  cannot be downloaded; shipped under ``lma/images/weights/clip``;
* a transformers ``CLIPModel`` saved in a local folder (:mod:`lma.images.clip_hf`).

:func:`lma.images.backends.load_clip` opens either from a folder. A small-CLIP folder holds ``lma-clip.json`` (the
format, the model's settings and its vocabulary, written last) and ``model.safetensors``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from lma.errors import LmaError

FORMAT = 1
MARKER = "lma-clip.json"
WEIGHTS = "model.safetensors"
SHIPPED = Path(__file__).parent / "weights" / "clip"
SPECIALS = ("[PAD]", "[UNK]", "[CLS]")
PAD, UNK, CLS = range(3)


class ClipError(LmaError):
    """A CLIP model folder that is missing or of another kind, or input it cannot take."""


@runtime_checkable
class ClipBackend(Protocol):
    """A dual encoder: images and texts to unit vectors of one space (rows of float32 arrays)."""

    name: str
    dim: int

    def encode_image(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """Unit embeddings of H x W x 3 uint8 images, one row each."""
        ...

    def encode_text(self, texts: Sequence[str]) -> np.ndarray:
        """Unit embeddings of texts, one row each; a text too long for the encoder is a ClipError."""
        ...


class WordTokenizer:
    """Lower-cased words to ids over a vocabulary built from the training captions.

    Captions of the scene set use a few dozen words, so a word vocabulary is all a small text
    tower needs; an unknown word maps to ``[UNK]``. Each text starts with ``[CLS]``, whose output
    is the text's embedding; a text longer than ``context`` tokens is refused, not cut short
    (a cut caption would silently mean something else).
    """

    def __init__(self, vocab: Sequence[str], context: int):
        self.vocab = list(vocab)
        self.index = {w: i for i, w in enumerate(self.vocab)}
        self.context = context

    @staticmethod
    def words(text: str) -> list[str]:
        return re.findall(r"[a-z0-9]+", text.lower())

    @classmethod
    def build(cls, texts: Sequence[str], context: int) -> WordTokenizer:
        found = sorted({w for t in texts for w in cls.words(t)})
        return cls([*SPECIALS, *found], context)

    def encode(self, texts: Sequence[str]) -> torch.Tensor:
        """A ``len(texts)`` x ``context`` tensor of ids, padded with ``[PAD]``."""
        ids = torch.full((len(texts), self.context), PAD, dtype=torch.long)
        for row, text in enumerate(texts):
            words = self.words(text)
            if len(words) + 1 > self.context:
                raise ClipError(f"text of {len(words)} words is longer than this text encoder takes "
                                f"({self.context - 1} words): {text[:60]!r}")
            ids[row, : len(words) + 1] = torch.tensor([CLS, *(self.index.get(w, UNK) for w in words)])
        return ids


@dataclass(frozen=True)
class ClipConfig:
    """The small CLIP's shape: image side, embedding size, tower widths and depths."""

    image_size: int = 32
    dim: int = 64
    channels: tuple[int, ...] = (32, 64, 96)
    text_width: int = 64
    text_layers: int = 2
    text_heads: int = 4
    context: int = 16


def _conv(cin: int, cout: int, stride: int) -> nn.Module:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.GroupNorm(8, cout), nn.GELU())


class ImageTower(nn.Module):
    """Conv blocks, each halving the resolution (cheap on a CPU), then a 4x4 grid of features
    flattened, so where things are (above, left of) survives into the embedding."""

    def __init__(self, cfg: ClipConfig):
        super().__init__()
        chans = cfg.channels
        blocks = [_conv(a, b, 2) for a, b in zip((3, *chans), chans)]
        self.features = nn.Sequential(*blocks, nn.AdaptiveAvgPool2d(4), nn.Flatten())
        self.head = nn.Sequential(nn.Linear(chans[-1] * 16, 2 * cfg.dim), nn.GELU(), nn.Linear(2 * cfg.dim, cfg.dim))

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(pixels))


class TextTower(nn.Module):
    """A small transformer encoder; the output at ``[CLS]`` is the text's embedding."""

    def __init__(self, cfg: ClipConfig, vocab_size: int):
        super().__init__()
        self.tokens = nn.Embedding(vocab_size, cfg.text_width, padding_idx=PAD)
        self.positions = nn.Parameter(torch.randn(cfg.context, cfg.text_width) * 0.02)
        layer = nn.TransformerEncoderLayer(cfg.text_width, cfg.text_heads, 2 * cfg.text_width, dropout=0.0,
                                           activation="gelu", batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, cfg.text_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(cfg.text_width)
        self.head = nn.Linear(cfg.text_width, cfg.dim)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        hidden = self.encoder(self.tokens(ids) + self.positions[: ids.shape[1]], src_key_padding_mask=ids == PAD)
        return self.head(self.norm(hidden[:, 0]))


class SmallClipModel(nn.Module):
    """The two towers and CLIP's learned temperature (``logit_scale``, kept as a log)."""

    def __init__(self, cfg: ClipConfig, vocab_size: int):
        super().__init__()
        self.image = ImageTower(cfg)
        self.text = TextTower(cfg, vocab_size)
        self.logit_scale = nn.Parameter(torch.tensor(float(np.log(1 / 0.07))))


def to_pixels(images: Sequence[np.ndarray] | np.ndarray, size: int) -> torch.Tensor:
    """uint8 H x W x 3 images -> a float N x 3 x size x size tensor, centred (resized if needed)."""
    batch = torch.as_tensor(np.stack([np.asarray(im, dtype=np.uint8) for im in images]))
    if batch.ndim != 4 or batch.shape[-1] != 3:
        raise ClipError(f"images must be H x W x 3 uint8 arrays, got shape {tuple(batch.shape[1:])}")
    pixels = batch.permute(0, 3, 1, 2).float() / 255.0
    if pixels.shape[-2:] != (size, size):
        pixels = nn.functional.interpolate(pixels, size=(size, size), mode="bilinear", antialias=True,
                                           align_corners=False)
    return (pixels - 0.5) / 0.25


class SmallClip:
    """lma's small CLIP as a :class:`ClipBackend`; ``model`` is the torch module (for training)."""

    def __init__(self, cfg: ClipConfig, tokenizer: WordTokenizer, model: SmallClipModel | None = None,
                 device: str = "cpu", name: str = "small-clip"):
        self.cfg, self.tokenizer, self.device, self.name = cfg, tokenizer, device, name
        self.model = (model or SmallClipModel(cfg, len(tokenizer.vocab))).to(device)
        self.dim = cfg.dim

    def _run(self, tower: nn.Module, inputs: torch.Tensor, batch: int) -> np.ndarray:
        was_training = self.model.training
        self.model.eval()
        with torch.no_grad():
            rows = [nn.functional.normalize(tower(inputs[i:i + batch].to(self.device)), dim=-1).cpu()
                    for i in range(0, len(inputs), batch)]
        self.model.train(was_training)
        return torch.cat(rows).numpy().astype(np.float32) if rows else np.zeros((0, self.dim), np.float32)

    def encode_image(self, images: Sequence[np.ndarray], batch: int = 256) -> np.ndarray:
        if len(images) == 0:
            return np.zeros((0, self.dim), np.float32)
        return self._run(self.model.image, to_pixels(images, self.cfg.image_size), batch)

    def encode_text(self, texts: Sequence[str], batch: int = 512) -> np.ndarray:
        return self._run(self.model.text, self.tokenizer.encode(list(texts)), batch)

    def save(self, folder: str | Path, extra: dict[str, Any] | None = None) -> Path:
        """Write the model to a new ``folder``; it appears only once complete (written beside it,
        then renamed), so a crash never leaves a folder that looks like a model."""
        folder = Path(folder)
        if folder.exists():
            raise ClipError(f"{folder} already exists: choose a new folder for the model")
        tmp = folder.with_name(f".{folder.name}.tmp{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        state = {k: v.detach().cpu().contiguous() for k, v in self.model.state_dict().items()}
        save_file(state, str(tmp / WEIGHTS))
        info = {"format": FORMAT, "kind": "lma-small-clip", "config": asdict(self.cfg),
                "vocab": self.tokenizer.vocab, **(extra or {})}
        (tmp / MARKER).write_text(json.dumps(info, indent=1) + "\n")
        tmp.rename(folder)
        return folder

    @classmethod
    def load(cls, folder: str | Path, device: str = "cpu") -> SmallClip:
        folder = Path(folder)
        try:
            info = json.loads((folder / MARKER).read_text())
            if info.get("kind") != "lma-small-clip" or info.get("format") != FORMAT:
                raise ClipError(f"{folder / MARKER} is not a format-{FORMAT} small CLIP")
            cfg_fields = dict(info["config"], channels=tuple(info["config"]["channels"]))
            cfg = ClipConfig(**cfg_fields)
            clip = cls(cfg, WordTokenizer(info["vocab"], cfg.context), device=device, name=f"small-clip:{folder}")
            clip.model.load_state_dict(load_file(str(folder / WEIGHTS)))
        except (OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
            raise ClipError(f"cannot load the small CLIP in {folder}: {type(exc).__name__}: {exc}") from None
        return clip


def resolve_device(device: str = "auto") -> str:
    """``auto`` is ``cuda`` when a GPU is present, else ``cpu``."""
    return ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
