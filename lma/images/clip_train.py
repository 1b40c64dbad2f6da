"""Training the small CLIP contrastively on a dataset folder (:mod:`lma.images.scenes`' format).

The same code trains on the synthetic scene set and on a user's own images + captions. One
difference from CLIP's recipe matters for small caption vocabularies: many images in a batch share
a caption, so the target of each image is spread evenly over every item with the same caption
(and likewise for texts), instead of treating identical captions as negatives.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from lma.images.clip import (
    ClipConfig,
    SmallClip,
    WordTokenizer,
    resolve_device,
    to_pixels,
)
from lma.images.scenes import load_image, read_records


@dataclass(frozen=True)
class TrainConfig:
    """Optimiser settings: AdamW with warm-up then cosine decay, fp32."""

    steps: int = 1200
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 0.05
    warmup: int = 100
    log_every: int = 50
    seed: int = 0
    device: str = "auto"


def load_dataset(folder: str | Path, size: int) -> tuple[np.ndarray, list[str]]:
    """All images of a dataset folder as one N x size x size x 3 uint8 array, and their texts."""
    records = read_records(folder)
    images = np.stack([load_image(r["image"], size) for r in records])
    return images, [r["text"] for r in records]


def contrastive_loss(image_emb: torch.Tensor, text_emb: torch.Tensor, scale: torch.Tensor,
                     same: torch.Tensor) -> torch.Tensor:
    """Symmetric cross-entropy of the scaled cosine logits against ``same`` (B x B, True where two
    items share a caption), each row's target spread evenly over its matches."""
    logits = scale.exp().clamp(max=100.0) * nn.functional.normalize(image_emb, dim=-1) @ \
        nn.functional.normalize(text_emb, dim=-1).T
    target = same.float() / same.float().sum(dim=1, keepdim=True)
    return 0.5 * (nn.functional.cross_entropy(logits, target) + nn.functional.cross_entropy(logits.T, target))


def _lr_at(step: int, cfg: TrainConfig) -> float:
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    progress = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return cfg.lr * 0.5 * (1 + math.cos(math.pi * progress))


def train_clip(data: str | Path, out: str | Path | None = None, train: TrainConfig | None = None,
               model: ClipConfig | None = None, log: Any = None) -> tuple[SmallClip, dict[str, Any]]:
    """Train a small CLIP on the dataset folder ``data``; save it to ``out`` if given.

    Returns the model and its figures (steps, final loss, seconds, images per second, device),
    which are also written into the saved folder's ``lma-clip.json``. ``log(step, loss)`` is called
    every ``train.log_every`` steps when given, with the mean loss over those steps.
    """
    train, model = train or TrainConfig(), model or ClipConfig()
    torch.manual_seed(train.seed)
    rng = np.random.default_rng(train.seed)
    device = resolve_device(train.device)
    images, texts = load_dataset(data, model.image_size)
    tokenizer = WordTokenizer.build(texts, model.context)
    ids = tokenizer.encode(texts)
    caption_ids = torch.as_tensor(np.unique(np.array(texts), return_inverse=True)[1])
    clip = SmallClip(model, tokenizer, device=device)
    net = clip.model.train()
    optim = torch.optim.AdamW(net.parameters(), lr=train.lr, weight_decay=train.weight_decay)
    batch = min(train.batch_size, len(texts))
    start, loss_value, recent = time.perf_counter(), float("nan"), []
    for step in range(train.steps):
        for group in optim.param_groups:
            group["lr"] = _lr_at(step, train)
        pick = torch.as_tensor(rng.choice(len(texts), size=batch, replace=False))
        pixels = to_pixels(images[pick.numpy()], model.image_size).to(device)
        same = (caption_ids[pick][:, None] == caption_ids[pick][None, :]).to(device)
        loss = contrastive_loss(net.image(pixels), net.text(ids[pick].to(device)), net.logit_scale, same)
        optim.zero_grad(set_to_none=True)
        loss.backward()
        optim.step()
        recent = [*recent, loss.item()][-train.log_every:]
        loss_value = float(np.mean(recent))
        if log is not None and (step + 1) % train.log_every == 0:
            log(step + 1, loss_value)
    seconds = time.perf_counter() - start
    figures = {"steps": train.steps, "batch_size": batch, "loss": round(loss_value, 4), "seconds": round(seconds, 1),
               "images_per_second": round(train.steps * batch / max(seconds, 1e-9), 1), "device": device,
               "examples": len(texts), "parameters": sum(p.numel() for p in net.parameters())}
    if out is not None:
        clip.save(out, {"training": figures})
    return clip, figures
