"""The unCLIP prior: a caption's CLIP text embedding -> a CLIP image embedding.

CLIP's text and image embeddings of the same scene are close but not the same point (the
"modality gap"), and the decoder was trained on *image* embeddings, so a caption needs a prior
to become something the decoder reads. DALL-E 2 uses an autoregressive or a diffusion prior; on
the small scene set, where a caption fixes nearly everything but positions, a residual MLP
regressing the image embedding (cosine loss) is enough and trains in seconds. It is
deterministic: the variety of generated images comes from the decoder's noise.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn


@dataclass(frozen=True)
class PriorConfig:
    """The prior's shape: CLIP embedding size, hidden width, residual blocks."""

    dim: int = 64
    width: int = 256
    blocks: int = 2


class _Block(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.net = nn.Sequential(nn.LayerNorm(width), nn.Linear(width, width), nn.GELU(), nn.Linear(width, width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.net(x)


class Prior(nn.Module):
    """A residual MLP from a unit text embedding to a unit image embedding."""

    def __init__(self, cfg: PriorConfig):
        super().__init__()
        self.cfg = cfg
        self.net = nn.Sequential(nn.Linear(cfg.dim, cfg.width), *(_Block(cfg.width) for _ in range(cfg.blocks)),
                                 nn.LayerNorm(cfg.width), nn.Linear(cfg.width, cfg.dim))

    def forward(self, text_embedding: torch.Tensor) -> torch.Tensor:
        return nn.functional.normalize(self.net(text_embedding), dim=-1)


@dataclass(frozen=True)
class PriorTraining:
    """AdamW, a short warm-up then cosine decay, over ``steps`` minibatches of ``batch_size`` pairs."""

    steps: int = 250
    batch_size: int = 256
    lr: float = 1e-3
    seed: int = 0


def train_prior(text_embeddings: np.ndarray, image_embeddings: np.ndarray, cfg: PriorConfig = PriorConfig(),
                train: PriorTraining = PriorTraining(), log: Any = None) -> tuple[Prior, dict[str, Any]]:
    """Fit a prior on paired rows of unit CLIP embeddings (caption i describes image i).

    Returns the prior (in eval mode) and its figures: steps, final mean cosine between predicted
    and true image embeddings, seconds. ``log(step, loss)`` is called every 100 steps when given.
    """
    torch.manual_seed(train.seed)
    rng = np.random.default_rng(train.seed)
    texts, images = torch.as_tensor(text_embeddings), torch.as_tensor(image_embeddings)
    prior = Prior(cfg).train()
    optim = torch.optim.AdamW(prior.parameters(), lr=train.lr, weight_decay=0.01)
    warmup = max(1, train.steps // 20)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optim, lambda step: min(1.0, (step + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * step / train.steps)))
    batch = min(train.batch_size, len(texts))
    start, recent = time.perf_counter(), []
    for step in range(train.steps):
        pick = torch.as_tensor(rng.choice(len(texts), size=batch, replace=False))
        loss = 1 - (prior(texts[pick]) * images[pick]).sum(-1).mean()
        optim.zero_grad(set_to_none=True)
        loss.backward()
        optim.step()
        schedule.step()
        recent = [*recent[-99:], loss.item()]
        if log is not None and (step + 1) % 100 == 0:
            log(step + 1, float(np.mean(recent)))
    prior.eval()
    figures = {"steps": train.steps, "cosine": round(1 - float(np.mean(recent)), 4),
               "seconds": round(time.perf_counter() - start, 1), "pairs": len(texts),
               "parameters": sum(p.numel() for p in prior.parameters())}
    return prior, figures
