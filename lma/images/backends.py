"""Opening a CLIP backend from a folder: lma's small CLIP or a transformers ``CLIPModel``.

Callers name a folder (or nothing, for the small CLIP shipped with lma) and get a
:class:`~lma.images.clip.ClipBackend`; the folder's files say which kind it is.
"""

from __future__ import annotations

from pathlib import Path

from lma.images.clip import MARKER, SHIPPED, ClipBackend, ClipError, SmallClip, resolve_device


def load_clip(folder: str | Path | None = None, device: str = "auto") -> ClipBackend:
    """The CLIP in ``folder`` (default: the small CLIP shipped with lma): lma's small CLIP or a
    transformers ``CLIPModel``; anything else is one :class:`ClipError` line."""
    path = Path(folder) if folder is not None else SHIPPED
    device = resolve_device(device)
    if (path / MARKER).is_file():
        return SmallClip.load(path, device)
    if (path / "config.json").is_file():
        from lma.images.clip_hf import TransformersClip  # transformers loads only for its folders

        return TransformersClip.load(path, device)
    what = "no folder" if not path.is_dir() else f"neither {MARKER} (lma's small CLIP) nor config.json (transformers)"
    raise ClipError(f"{path} is not a CLIP model folder: {what}")
