"""Teaching a new vision tower to see before it talks (``lma finetune --new-vision ... --pretrain-vision N``).

A tower drawn at random learns to see from a VLM's language loss alone very slowly: the loss of
a caption or a tool call says little about any one patch, and a 135M model's 1,650 optimizer
steps on a CPU left a BabyAI captioner that named walls and never an object (docs/results.md).
Envs that know what their frame shows can say it patch by patch: the BALROG BabyAI envs give
``obs["data"]["tiles"]``, the 7x7 view in MiniGrid's encoding (object, colour and state indices
per 16-pixel tile, row by row as the frame shows it). This module trains the tower and LLaVA's
projector on that dense signal first: a linear head per component reads each image token the
language model will be given (the projector's output, one per patch) and is trained by
cross-entropy to name that patch's tile. The heads are dropped afterwards; what stays is a tower
whose image tokens already tell a key from a ball, red from blue, and a door open from locked,
so the VLM's own training only has to learn to say it.

The frames and tiles come from replaying the runs' episodes in their envs from their seeds
(:func:`lma.train.data.replay`, as for captioners): every step of every episode, successful or not.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lma.core import EpisodeResult
from lma.errors import LmaError
from lma.run.recording import RunDir
from lma.train.data import TrainingDataError, replay
from lma.train.vlm import examples_from_runs

COMPONENTS = ("object", "colour", "state")


@dataclass
class TileExample:
    """A frame (H x W x 3) and what each of its patches shows: ``tiles[row][col]`` = the
    :data:`COMPONENTS` indices of that patch."""

    image: np.ndarray
    tiles: np.ndarray
    source: str


def episode_tiles(run: RunDir, result: EpisodeResult) -> list[TileExample]:
    """The frame and tiles of every recorded step of one episode, replayed."""
    env_kwargs = (run.config().get("env_args") or {}).get(result.env, {})
    source = f"{run.path.name}/{result.episode_id}"
    examples = []
    for row, obs, _ in replay(run.trajectory(result.episode_id), result.env, result.seed, source, env_kwargs):
        tiles, image = (obs.get("data") or {}).get("tiles"), obs.get("image")
        if tiles is None or image is None:
            raise TrainingDataError(f"{result.env} gives no frame with a data['tiles'] (what each patch of the frame "
                                    "shows): --pretrain-vision trains on envs that say it, e.g. babyai/balrog-*")
        examples.append(TileExample(np.array(image), np.array(tiles, dtype=np.int64), f"{source}#{row['step']}"))
    return examples


def collect_tile_examples(sources: list[str | Path]) -> list[TileExample]:
    """Every step of every episode of the run folders, with its frame and tiles."""
    return examples_from_runs(sources, episode_tiles, "--pretrain-vision trains from run folders (replayed in their envs)",
                              successful_only=False)


class TileHeads:
    """One linear classifier per component over the image tokens, and what they score."""

    def __init__(self, width: int, classes: tuple[int, ...]):
        import torch

        self.layers = torch.nn.ModuleList(torch.nn.Linear(width, n) for n in classes)

    def loss(self, tokens: Any, tiles: Any) -> Any:
        import torch.nn.functional as F

        return sum(F.cross_entropy(head(tokens).flatten(0, 1), tiles[..., i].flatten())
                   for i, head in enumerate(self.layers))

    def correct(self, tokens: Any, tiles: Any) -> Any:
        """Per patch: whether every component was named right."""
        import torch

        return torch.stack([head(tokens).argmax(-1) == tiles[..., i] for i, head in enumerate(self.layers)]).all(0)


def image_tokens(model: Any, pixel_values: Any) -> Any:
    """What the language model is given of each frame: the tower's last layer without its class
    token, through the projector (as :mod:`lma.models.llava` configures LLaVA to read it)."""
    inner = model.model
    hidden = inner.vision_tower(pixel_values, output_hidden_states=True).hidden_states[-1][:, 1:]
    return inner.multi_modal_projector(hidden)


def pretrain_tower(model: Any, processor: Any, examples: list[TileExample], epochs: int, seed: int = 0,
                    batch_size: int = 32, lr: float = 1e-3) -> dict[str, Any]:
    """Train ``model``'s tower and projector to name every patch's tile for ``epochs`` epochs
    (in place); returns the figures: frames, seconds, and the share of patches named right
    (all components) on a held-out twentieth of the frames, over all patches and over patches
    that show an object (anything but unseen, empty floor and wall)."""
    import torch

    grid = model.config.vision_config.image_size // model.config.vision_config.patch_size
    shape = examples[0].tiles.shape
    if shape[:2] != (grid, grid):
        raise LmaError(f"--pretrain-vision: the tower reads {grid}x{grid} patches, the env's tiles are "
                       f"{shape[0]}x{shape[1]}: give --new-vision SIZE/PATCH with SIZE/PATCH = {shape[0]}")
    rng = random.Random(seed)
    order = list(range(len(examples)))
    rng.shuffle(order)
    held = order[: max(1, len(order) // 20)] if len(order) >= 20 else []
    train = order[len(held):]
    classes = tuple(int(max(e.tiles[..., i].max() for e in examples)) + 1 for i in range(len(COMPONENTS)))
    torch.manual_seed(seed)
    heads = TileHeads(model.config.text_config.hidden_size, classes)
    parts = [model.model.vision_tower, model.model.multi_modal_projector]
    params = [p for part in parts for p in part.parameters()] + list(heads.layers.parameters())
    for p in params:
        p.requires_grad_(True)
    optimizer = torch.optim.AdamW(params, lr=lr)

    def batch(indices: list[int]) -> tuple[Any, Any]:
        pixels = processor.image_processor([examples[i].image for i in indices], return_tensors="pt")["pixel_values"]
        return pixels.to(model.dtype), torch.from_numpy(np.stack([examples[i].tiles for i in indices]))

    started = time.perf_counter()
    model.train()
    for _ in range(epochs):
        rng.shuffle(train)
        for start in range(0, len(train), batch_size):
            pixels, tiles = batch(train[start:start + batch_size])
            loss = heads.loss(image_tokens(model, pixels), tiles.flatten(1, 2))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    figures: dict[str, Any] = {"epochs": epochs, "frames": len(examples), "seconds": round(time.perf_counter() - started, 1)}
    if held:
        model.eval()
        with torch.no_grad():
            pixels, tiles = batch(held)
            tiles = tiles.flatten(1, 2)
            right = heads.correct(image_tokens(model, pixels), tiles)
        objects = tiles[..., 0] > 2  # MiniGrid: 0 unseen, 1 empty, 2 wall
        figures["held_out_patches_right"] = round(float(right.float().mean()), 4)
        figures["held_out_object_patches_right"] = round(float(right[objects].float().mean()), 4) if objects.any() else None
    return figures
