"""A transformers ``CLIPModel`` in a local folder as a :class:`~lma.images.clip.ClipBackend`.

Real CLIP checkpoints (OpenAI's, LAION's in the transformers format) work wherever lma's small
CLIP does: search, text diffs, attribute filters. The folder holds what ``save_pretrained``
writes for the model and its tokenizer; images are resized and normalised here with CLIP's own
constants, so no image-processor file is needed. Nothing is downloaded (``local_files_only``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from lma.images.clip import ClipError

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


class TransformersClip:
    """``CLIPModel`` + its tokenizer; texts longer than the model's positions are refused."""

    def __init__(self, model: Any, tokenizer: Any, device: str, name: str):
        self.model, self.tokenizer, self.device, self.name = model.to(device).eval(), tokenizer, device, name
        self.dim = int(model.config.projection_dim)
        self.size = int(model.config.vision_config.image_size)
        self.max_tokens = int(model.config.text_config.max_position_embeddings)

    @classmethod
    def load(cls, folder: str | Path, device: str = "cpu") -> TransformersClip:
        from transformers import AutoConfig, AutoTokenizer, CLIPModel

        try:
            config = AutoConfig.from_pretrained(str(folder), local_files_only=True)
        except (OSError, ValueError) as exc:
            raise ClipError(f"cannot read the model config in {folder}: {exc}") from None
        if config.model_type != "clip":
            raise ClipError(f"{folder} holds a {config.model_type!r} model, not a CLIP model (model_type 'clip')")
        try:
            model = CLIPModel.from_pretrained(str(folder), local_files_only=True)
            tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        except (OSError, ValueError) as exc:
            raise ClipError(f"cannot load the CLIP model in {folder}: {exc}") from None
        return cls(model, tokenizer, device, f"transformers-clip:{folder}")

    def encode_image(self, images: Sequence[np.ndarray]) -> np.ndarray:
        if len(images) == 0:
            return np.zeros((0, self.dim), np.float32)
        pixels = torch.as_tensor(np.stack([np.asarray(im, dtype=np.uint8) for im in images])).permute(0, 3, 1, 2)
        pixels = nn.functional.interpolate(pixels.float() / 255.0, size=(self.size, self.size), mode="bicubic",
                                           antialias=True, align_corners=False)
        mean, std = torch.tensor(CLIP_MEAN).view(1, 3, 1, 1), torch.tensor(CLIP_STD).view(1, 3, 1, 1)
        with torch.no_grad():
            out = self.model.get_image_features(pixel_values=((pixels - mean) / std).to(self.device))
        return self._unit(out)

    def encode_text(self, texts: Sequence[str]) -> np.ndarray:
        batch = self.tokenizer(list(texts), padding=True, return_tensors="pt")
        if batch["input_ids"].shape[1] > self.max_tokens:
            raise ClipError(f"a text of {batch['input_ids'].shape[1]} tokens is longer than this text encoder "
                            f"takes ({self.max_tokens})")
        with torch.no_grad():
            out = self.model.get_text_features(**{k: v.to(self.device) for k, v in batch.items()})
        return self._unit(out)

    @staticmethod
    def _unit(out: Any) -> np.ndarray:
        features = out if isinstance(out, torch.Tensor) else out.pooler_output
        return nn.functional.normalize(features.float(), dim=-1).cpu().numpy()
