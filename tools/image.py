"""unCLIP image tools: generate, vary, interpolate and text-diff images, returned into the observation.

The four tools share one :class:`ImageWorkspace`: a folder where every image they make is saved
under a short name (``image-001.png``), which later calls take as input, so an agent can
generate a picture and then edit it. Inputs are names inside the workspace only (no paths),
so a model's output can never make a tool read an arbitrary file; a host program puts outside
pictures in with :meth:`ImageWorkspace.add`. The model loads on the first call (lma's small
unCLIP unless ``model`` names a folder; see :mod:`lma.images.unclip`), and bad input, such as
``t`` outside [0, 1] or a name that is not an image, is a failed result with one line.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from lma.core import ToolResult
from lma.errors import LmaError
from lma.tools.base import Tool, tool

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*\.png")


class ImageWorkspace:
    """The folder of images the tools read and write, and the unCLIP backend they use."""

    def __init__(self, model: str | Path | None = None, folder: str | Path | None = None, seed: int = 0,
                 **options: Any):
        self.model, self.options, self.seed = model, options, seed
        self.folder = Path(folder) if folder is not None else Path(tempfile.mkdtemp(prefix="lma-images-"))
        self.folder.mkdir(parents=True, exist_ok=True)
        self._backend: Any = None
        self._made = 0

    @property
    def backend(self) -> Any:
        """The unCLIP backend, loaded on first use (loading a model is seconds; listing tools is not)."""
        if self._backend is None:
            from lma.images.unclip import load

            self._backend = load(self.model, **self.options)
        return self._backend

    def path(self, name: str) -> Path:
        """The file of image ``name``: a PNG name inside the workspace, never a path."""
        if not _NAME.fullmatch(name):
            raise LmaError(f"{name!r} is not an image name here: give a name such as image-001.png")
        path = self.folder / name
        if not path.is_file():
            known = ", ".join(sorted(p.name for p in self.folder.glob("*.png"))) or "none yet"
            raise LmaError(f"no image {name!r} in the workspace (images: {known})")
        return path

    def add(self, image: Image.Image | np.ndarray, name: str | None = None) -> str:
        """Save ``image`` in the workspace; its name, for the tools' arguments."""
        from lma.images.unclip import as_image

        self._made += 1
        name = name or f"image-{self._made:03d}.png"
        if not _NAME.fullmatch(name):
            raise LmaError(f"{name!r} is not a valid image name (letters, digits, . _ -, ending .png)")
        as_image(image).save(self.folder / name)
        return name

    def next_seed(self) -> int:
        """A new decoder seed per call, so repeated calls differ while a run stays reproducible."""
        return self.seed + self._made

    def result(self, make: Callable[[], Image.Image], what: str) -> ToolResult:
        """Run ``make``; the image saved and returned, or bad input as a failed result."""
        try:
            image = make()
        except LmaError as exc:
            return ToolResult(ok=False, error=str(exc))
        name = self.add(image)
        return ToolResult(output=f"{name}: {what} ({image.width}x{image.height})", image=np.asarray(image),
                          data={"image": name})


def image_tools(model: str | None = None, folder: str | None = None, seed: int = 0,
                workspace: ImageWorkspace | None = None, **options: Any) -> list[Tool]:
    """The four unCLIP tools over one workspace: ``workspace`` if given (a host that adds pictures
    keeps it), else a new one on ``model`` (an unCLIP folder; default lma's small one)."""
    from lma.images import unclip

    ws = workspace or ImageWorkspace(model, folder, seed, **options)

    @tool
    def image_generate(prompt: str) -> ToolResult:
        """Draw a new image for a caption (unCLIP: prior, then decoder)."""
        return ws.result(lambda: unclip.generate(ws.backend, prompt, seed=ws.next_seed()), f"generated {prompt!r}")

    @tool
    def image_vary(image: str, strength: float = 0.0) -> ToolResult:
        """Make a variation of an image: the same content drawn anew; strength 0-1 allows more change."""
        return ws.result(lambda: unclip.vary(ws.backend, ws.path(image), strength, seed=ws.next_seed()),
                         f"variation of {image} at strength {strength}")

    @tool
    def image_interpolate(a: str, b: str, t: float = 0.5) -> ToolResult:
        """Blend two images: t=0 is like a, t=1 like b (slerp of their CLIP embeddings)."""
        return ws.result(lambda: unclip.interpolate(ws.backend, ws.path(a), ws.path(b), t, seed=ws.seed),
                         f"{a} -> {b} at t={t}")

    @tool
    def image_text_diff(image: str, from_text: str, to_text: str, amount: float = 0.5) -> ToolResult:
        """Edit an image by a change of caption, e.g. from 'a red square' to 'a green square'."""
        return ws.result(lambda: unclip.text_diff(ws.backend, ws.path(image), from_text, to_text, amount,
                                                  seed=ws.seed), f"{image} edited {from_text!r} -> {to_text!r}")

    return [image_generate, image_vary, image_interpolate, image_text_diff]
