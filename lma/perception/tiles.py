"""``tiles:DIR``: a vision tower trained here reads each tile of the frame; the view's sentences are
written from what it read.

The two-model design with the seeing done by a small model that learnt to see: ``lma finetune
--tiles`` trains a new CLIP tower and a linear head per component (object, colour, state) to name
what every patch of a BabyAI POV frame shows, from the envs' own ``data["tiles"]``
(:mod:`lma.train.tiles`). This perceiver runs that :class:`TileReader` on the frame and hands the
view it read to BabyAI-Text's sentence writer (:mod:`lma.perception.minigrid_text`), the same
code the BALROG envs write their text with; the lines join the observation text as the env's full
text would have them, so a planner trained on the env's sentences reads them unchanged. Only the
frame is read: with ``--env-arg text=goal`` the env says nothing of where things are.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from lma.core import Observation
from lma.errors import LmaError
from lma.models.llava import clip_image_processor
from lma.perception.base import Percept, Perceiver, shown
from lma.perception.minigrid_text import balrog_observation, view_sentences

READER_FILE = "tile-reader.json"
WEIGHTS_FILE = "model.safetensors"


def tile_heads(width: int, classes: tuple[int, ...]) -> Any:
    """One linear classifier per component over a tower's image tokens."""
    import torch

    return torch.nn.ModuleList(torch.nn.Linear(width, n) for n in classes)


class TileReader:
    """A CLIP vision tower and its tile heads: a frame -> what each of its patches shows
    (``[row][col]`` = object, colour and state indices, MiniGrid's encoding)."""

    def __init__(self, tower: Any, heads: Any):
        self.tower, self.heads = tower, heads
        self.image_processor = clip_image_processor(tower.config.image_size)

    @classmethod
    def new(cls, spec: Any, classes: tuple[int, ...], seed: int = 0) -> TileReader:
        """A tower shaped by ``spec`` (:class:`lma.train.assemble.VisionSpec`) and heads, drawn from ``seed``."""
        import torch
        from transformers import CLIPVisionConfig, CLIPVisionModel

        torch.manual_seed(seed)
        config = CLIPVisionConfig(hidden_size=spec.width, intermediate_size=4 * spec.width,
                                  num_hidden_layers=spec.layers, num_attention_heads=spec.width // 64,
                                  image_size=spec.image_size, patch_size=spec.patch)
        return cls(CLIPVisionModel(config), tile_heads(spec.width, classes))

    @classmethod
    def load(cls, folder: str | Path) -> TileReader:
        """The reader ``lma finetune --tiles`` saved in ``folder``."""
        from safetensors.torch import load_file
        from transformers import CLIPVisionConfig, CLIPVisionModel

        folder = Path(folder)
        try:
            meta = json.loads((folder / READER_FILE).read_text())
            weights = load_file(folder / WEIGHTS_FILE)
            tower = CLIPVisionModel(CLIPVisionConfig(**meta["vision_config"]))
            heads = tile_heads(tower.config.hidden_size, tuple(meta["classes"]))
            tower.load_state_dict({k[len("tower."):]: v for k, v in weights.items() if k.startswith("tower.")})
            heads.load_state_dict({k[len("heads."):]: v for k, v in weights.items() if k.startswith("heads.")})
        except (OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
            raise LmaError(f"{folder} is not a tile reader saved by `lma finetune --tiles` "
                           f"({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None
        reader = cls(tower, heads)
        reader.tower.eval()
        return reader

    def save(self, folder: Path) -> None:
        from safetensors.torch import save_file

        weights = {f"tower.{k}": v.contiguous() for k, v in self.tower.state_dict().items()}
        weights |= {f"heads.{k}": v.contiguous() for k, v in self.heads.state_dict().items()}
        save_file(weights, folder / WEIGHTS_FILE)
        meta = {"vision_config": self.tower.config.to_dict(), "classes": [h.out_features for h in self.heads]}
        (folder / READER_FILE).write_text(json.dumps(meta, indent=2))

    def pixels(self, images: list[Any]) -> Any:
        return self.image_processor(images, return_tensors="pt")["pixel_values"]

    def tokens(self, pixel_values: Any) -> Any:
        """One feature vector per patch (the tower's last layer, its class token dropped)."""
        return self.tower(pixel_values).last_hidden_state[:, 1:]

    def read(self, image: Any) -> np.ndarray:
        """What each patch of ``image`` shows, ``[row][col][component]``."""
        import torch

        with torch.no_grad():
            tokens = self.tokens(self.pixels([np.asarray(image)]))[0]
            named = torch.stack([head(tokens).argmax(-1) for head in self.heads], dim=-1)
        grid = self.tower.config.image_size // self.tower.config.patch_size
        return named.reshape(grid, grid, len(self.heads)).numpy()


def view_of(tiles: np.ndarray) -> str:
    """The scene sentences of a view read as ``tiles[row][col]``, the agent at the bottom centre
    (MiniGrid's egocentric view)."""
    view = tiles.transpose(1, 0, 2)  # [x][y], as MiniGrid encodes it
    return balrog_observation(view_sentences(view, (view.shape[0] // 2, view.shape[1] - 1)))


class Tiles(Perceiver):
    """Frame -> the tiles it shows, by a :class:`TileReader` -> the view's sentences; see the module docstring."""

    def __init__(self, target: str | None = None):
        if not target:
            raise LmaError("the tiles perceiver needs a tile reader: --perceiver tiles:DIR "
                           "(a folder written by `lma finetune --tiles`)")
        self.reader = TileReader.load(target)
        self.name = f"tiles:{target}"

    def perceive(self, obs: Observation, model: Any = None) -> Percept:
        text, image = obs.get("text", ""), obs.get("image")
        if image is None:
            return Percept(text)
        scene = view_of(self.reader.read(image))
        return Percept(f"{text}\n{scene}" if scene else text, shown(image, model), {"scene": scene})
