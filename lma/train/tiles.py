"""Teaching a new vision tower to see: ``lma finetune --tiles`` (a tile reader) and ``--pretrain-vision N``.

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
so the VLM's own training only has to learn to say it. ``--tiles`` keeps the heads instead: the
tower and heads are a :class:`~lma.perception.tiles.TileReader`, which the ``tiles`` perceiver runs.

The frames and tiles come from replaying the runs' episodes in their envs from their seeds
(:func:`lma.train.data.replay`, as for captioners): every step of every episode, successful or not.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lma.core import EpisodeResult
from lma.errors import LmaError
from lma.perception.tiles import TileReader, tile_heads
from lma.run.recording import RunDir
from lma.train.data import replayed_frames
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
    refusal = ("(what each patch of the frame shows): --tiles and --pretrain-vision train on envs that say it, "
               "e.g. babyai/balrog-*")
    return [TileExample(image, np.array(tiles, dtype=np.int64), source)
            for source, image, tiles in replayed_frames(run, result, "tiles", refusal)]


def collect_tile_examples(sources: list[str | Path]) -> list[TileExample]:
    """Every step of every episode of the run folders, with its frame and tiles."""
    return examples_from_runs(sources, episode_tiles, "--tiles and --pretrain-vision train from run folders "
                              "(replayed in their envs)", successful_only=False)


def classes_of(examples: list[TileExample]) -> tuple[int, ...]:
    """How many values each component takes in the examples (indices from 0)."""
    return tuple(int(max(e.tiles[..., i].max() for e in examples)) + 1 for i in range(len(COMPONENTS)))


def check_grid(grid: int, examples: list[TileExample], flag: str) -> None:
    shape = examples[0].tiles.shape
    if shape[:2] != (grid, grid):
        raise LmaError(f"{flag}: the tower reads {grid}x{grid} patches, the env's tiles are "
                       f"{shape[0]}x{shape[1]}: give --new-vision SIZE/PATCH with SIZE/PATCH = {shape[0]}")


def fit_tiles(tokens: Callable[[Any], Any], pixels: Callable[[list[Any]], Any], heads: Any, params: list[Any],
              examples: list[TileExample], epochs: float, seed: int = 0, batch_size: int = 32,
              lr: float = 1e-3) -> dict[str, Any]:
    """Train ``params`` (a tower's, ``heads``' and whatever lies between) so that ``heads`` name
    each patch's tile from ``tokens(pixels(images))``; returns the figures: frames, seconds, and
    the share of patches named right (all components) on a held-out twentieth of the frames, over
    all patches and over patches that show an object (anything but unseen, empty floor and wall)."""
    import torch
    import torch.nn.functional as F

    rng = random.Random(seed)
    order = list(range(len(examples)))
    rng.shuffle(order)
    held = order[: len(order) // 20]
    train = order[len(held):]
    for p in params:
        p.requires_grad_(True)
    optimizer = torch.optim.AdamW(params, lr=lr)

    def batch(indices: list[int]) -> tuple[Any, Any]:
        return pixels([examples[i].image for i in indices]), torch.from_numpy(
            np.stack([examples[i].tiles for i in indices])).flatten(1, 2)

    steps = max(1, round(epochs * len(train) / batch_size)) if epochs else 0
    stream: list[int] = []  # the training frames in a new order every epoch
    while len(stream) < steps * batch_size:
        stream += rng.sample(train, len(train))
    started = time.perf_counter()
    for step in range(steps):
        images, tiles = batch(stream[step * batch_size:(step + 1) * batch_size])
        named = tokens(images)
        loss = sum(F.cross_entropy(head(named).flatten(0, 1), tiles[..., i].flatten()) for i, head in enumerate(heads))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    figures: dict[str, Any] = {"epochs": epochs, "frames": len(examples), "steps": steps,
                               "seconds": round(time.perf_counter() - started, 1)}
    if held:
        with torch.no_grad():
            images, tiles = batch(held)
            named = tokens(images)
            right = torch.stack([head(named).argmax(-1) == tiles[..., i] for i, head in enumerate(heads)]).all(0)
        objects = tiles[..., 0] > 2  # MiniGrid: 0 unseen, 1 empty, 2 wall
        figures["held_out_patches_right"] = round(float(right.float().mean()), 4)
        figures["held_out_object_patches_right"] = (round(float(right[objects].float().mean()), 4)
                                                    if objects.any() else None)
    return figures


def pretrain_tower(model: Any, processor: Any, examples: list[TileExample], epochs: float, seed: int = 0,
                   batch_size: int = 32, lr: float = 1e-3) -> dict[str, Any]:
    """Train an assembled LLaVA's tower and projector (in place) for ``epochs`` so that a head per
    component names every patch's tile from the image token the language model is given (the
    heads are then dropped); returns :func:`fit_tiles`' figures."""
    import torch

    vision = model.config.vision_config
    check_grid(vision.image_size // vision.patch_size, examples, "--pretrain-vision")
    inner = model.model
    torch.manual_seed(seed)
    heads = tile_heads(model.config.text_config.hidden_size, classes_of(examples))

    def tokens(pixel_values: Any) -> Any:  # the tower's last layer, class token dropped, projected (lma.models.llava)
        hidden = inner.vision_tower(pixel_values, output_hidden_states=True).hidden_states[-1][:, 1:]
        return inner.multi_modal_projector(hidden)

    def pixels(images: list[Any]) -> Any:
        return processor.image_processor(images, return_tensors="pt")["pixel_values"].to(model.dtype)

    params = [*inner.vision_tower.parameters(), *inner.multi_modal_projector.parameters(), *heads.parameters()]
    model.train()
    return fit_tiles(tokens, pixels, heads, params, examples, epochs, seed, batch_size, lr)


def train_reader(spec: Any, examples: list[TileExample], epochs: float, seed: int = 0, batch_size: int = 32,
                 lr: float = 1e-3) -> tuple[TileReader, dict[str, Any]]:
    """A new :class:`~lma.perception.tiles.TileReader` shaped by ``spec``, trained on ``examples``."""
    check_grid(spec.image_size // spec.patch, examples, "--tiles")
    reader = TileReader.new(spec, classes_of(examples), seed)
    reader.tower.train()
    params = [*reader.tower.parameters(), *reader.heads.parameters()]
    figures = fit_tiles(reader.tokens, reader.pixels, reader.heads, params, examples, epochs, seed, batch_size, lr)
    reader.tower.eval()
    return reader, figures
