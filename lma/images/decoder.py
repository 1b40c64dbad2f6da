"""The unCLIP decoder: a small diffusion model that draws an image from a CLIP image embedding.

A diffusers ``UNet2DModel`` predicts the noise of a noised image; the CLIP image embedding,
projected to the UNet's time-embedding width, is added to the timestep embedding (diffusers'
``class_embed_type="identity"``), so it conditions every residual block. As in DALL-E 2 the
embedding is dropped (zeroed) for a share of the training images, which makes the same network
an unconditional model too, and sampling uses classifier-free guidance: ``eps_u + g * (eps_c - eps_u)``.
Training uses DDPM noising; sampling uses DDIM with few steps, seeded, so one seed and one
embedding always give the same picture (what interpolations and text diffs rely on).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from lma.images.clip import resolve_device


@dataclass(frozen=True)
class DecoderConfig:
    """The decoder's shape and its sampling defaults."""

    image_size: int = 32
    dim: int = 64
    patch: int = 2
    channels: tuple[int, ...] = (32, 64, 64)
    attention: tuple[bool, ...] = (False, False, True)
    layers_per_block: int = 1
    train_timesteps: int = 1000
    sample_steps: int = 25
    guidance: float = 3.0


def _scheduler(cfg: DecoderConfig, kind: str) -> Any:
    from diffusers import DDIMScheduler, DDPMScheduler

    cls = DDIMScheduler if kind == "ddim" else DDPMScheduler
    return cls(num_train_timesteps=cfg.train_timesteps, beta_schedule="squaredcos_cap_v2", clip_sample=True,
               prediction_type="epsilon")


class Decoder(nn.Module):
    """Noise prediction ``eps(x_t, t | z)`` with a UNet conditioned on the image embedding ``z``.

    The UNet works on ``patch`` x ``patch`` pixel blocks folded into channels (pixel unshuffle):
    a 32x32 image is a 16x16 grid of 12 channels, which costs a third of the CPU time of the
    full-resolution UNet of the same widths, and this model is trained on two shared CPU cores.
    """

    def __init__(self, cfg: DecoderConfig):
        from diffusers import UNet2DModel

        super().__init__()
        self.cfg = cfg
        down = tuple("AttnDownBlock2D" if a else "DownBlock2D" for a in cfg.attention)
        up = tuple("AttnUpBlock2D" if a else "UpBlock2D" for a in reversed(cfg.attention))
        folded = 3 * cfg.patch**2
        self.unet = UNet2DModel(sample_size=cfg.image_size // cfg.patch, in_channels=folded, out_channels=folded,
                                block_out_channels=cfg.channels, down_block_types=down, up_block_types=up,
                                layers_per_block=cfg.layers_per_block, class_embed_type="identity",
                                attention_head_dim=min(32, cfg.channels[-1]), norm_num_groups=16)
        self.condition = nn.Linear(cfg.dim, cfg.channels[0] * 4)

    def forward(self, noisy: torch.Tensor, timesteps: torch.Tensor, embedding: torch.Tensor) -> torch.Tensor:
        folded = nn.functional.pixel_unshuffle(noisy, self.cfg.patch)
        out = self.unet(folded, timesteps, class_labels=self.condition(embedding)).sample
        return nn.functional.pixel_shuffle(out, self.cfg.patch)

    @torch.no_grad()
    def sample(self, embeddings: torch.Tensor, seed: int = 0, steps: int | None = None,
               guidance: float | None = None) -> np.ndarray:
        """Images (N x H x W x 3 uint8) for N embeddings, DDIM-sampled from noise fixed by ``seed``."""
        cfg, device = self.cfg, embeddings.device
        guidance = cfg.guidance if guidance is None else guidance
        scheduler = _scheduler(cfg, "ddim")
        scheduler.set_timesteps(steps or cfg.sample_steps)
        generator = torch.Generator().manual_seed(seed)
        x = torch.randn((len(embeddings), 3, cfg.image_size, cfg.image_size), generator=generator).to(device)
        both = torch.cat([torch.zeros_like(embeddings), embeddings])
        for t in scheduler.timesteps:
            eps_u, eps_c = self(torch.cat([x, x]), t.expand(2 * len(x)).to(device), both).chunk(2)
            x = scheduler.step(eps_u + guidance * (eps_c - eps_u), t, x).prev_sample
        pixels = ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
        return pixels.permute(0, 2, 3, 1).cpu().numpy()


@dataclass(frozen=True)
class DecoderTraining:
    """AdamW, warm-up then a constant rate, an EMA of the weights (what is saved), embedding dropout.

    Training stops after ``steps`` or ``max_seconds``, whichever comes first (the rate does not
    decay towards a planned end; the EMA does the averaging), so a time budget is honoured.
    """

    steps: int = 4000
    max_seconds: float | None = None
    warmup: int = 100
    batch_size: int = 32
    lr: float = 2e-3
    ema: float = 0.99
    drop: float = 0.1
    seed: int = 0
    device: str = "auto"


def train_decoder(images: np.ndarray, embeddings: np.ndarray, cfg: DecoderConfig = DecoderConfig(),
                  train: DecoderTraining = DecoderTraining(), log: Any = None) -> tuple[Decoder, dict[str, Any]]:
    """Fit a decoder on N x H x W x 3 uint8 images and their N x dim CLIP image embeddings.

    Returns the EMA decoder (eval mode, on ``train.device``; ``auto`` is cuda when present) and its figures: steps, final loss,
    seconds, images per second. ``log(step, loss)`` is called every 50 steps when given.
    """
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    torch.manual_seed(train.seed)
    rng = np.random.default_rng(train.seed)
    device = resolve_device(train.device)
    pixels = torch.as_tensor(images).permute(0, 3, 1, 2).float() / 127.5 - 1
    if pixels.shape[-1] != cfg.image_size:
        pixels = nn.functional.interpolate(pixels, size=(cfg.image_size, cfg.image_size), mode="bilinear",
                                           antialias=True, align_corners=False)
    z_all = torch.as_tensor(embeddings, dtype=torch.float32)
    decoder = Decoder(cfg).to(device).train()
    ema = AveragedModel(decoder, multi_avg_fn=get_ema_multi_avg_fn(train.ema))
    optim = torch.optim.AdamW(decoder.parameters(), lr=train.lr, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.LambdaLR(optim, lambda step: min(1.0, (step + 1) / train.warmup))
    noising = _scheduler(cfg, "ddpm")
    batch = min(train.batch_size, len(pixels))
    start, recent, done = time.perf_counter(), [], 0
    while done < train.steps and (train.max_seconds is None or time.perf_counter() - start < train.max_seconds):
        pick = torch.as_tensor(rng.choice(len(pixels), size=batch, replace=False))
        x0, z = pixels[pick].to(device), z_all[pick].to(device)
        z = z * (torch.rand(batch, 1, device=device) >= train.drop)
        noise = torch.randn_like(x0)
        t = torch.randint(0, cfg.train_timesteps, (batch,), device=device)
        loss = nn.functional.mse_loss(decoder(noising.add_noise(x0, noise, t), t, z), noise)
        optim.zero_grad(set_to_none=True)
        loss.backward()
        optim.step()
        schedule.step()
        ema.update_parameters(decoder)
        recent, done = [*recent[-99:], loss.item()], done + 1
        if log is not None and done % 50 == 0:
            log(done, float(np.mean(recent)))
    seconds = time.perf_counter() - start
    trained = ema.module.eval()
    figures = {"steps": done, "batch_size": batch, "loss": round(float(np.mean(recent)), 4),
               "seconds": round(seconds, 1), "images_per_second": round(done * batch / max(seconds, 1e-9), 1),
               "device": device, "examples": len(pixels),
               "parameters": sum(p.numel() for p in trained.parameters())}
    return trained, figures
