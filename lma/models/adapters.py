"""LoRA adapters in GGUF, checked before llama.cpp applies them over a base model.

``lma finetune --export-gguf ADAPTER_DIR --out NAME.gguf`` writes the adapter and a manifest
``NAME.json`` beside it: its SHA-256, the SHA-256 of the base GGUF it was trained on, and the
training record. :func:`verified_adapter` checks both before llama.cpp sees the file, so a
corrupt copy or an adapter for another base model is a one-line
:class:`~lma.models.base.ModelError` naming the file, never a model that silently answers as the
untuned base would. An adapter without a manifest is loaded as given.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from lma.models.base import ModelError


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_manifest(adapter: Path, base: Path, about: dict[str, Any]) -> Path:
    """Write ``adapter``'s manifest beside it (``NAME.json``): both checksums and ``about`` (how it was made)."""
    path = adapter.with_suffix(".json")
    path.write_text(json.dumps({"sha256": sha256(adapter), "base_sha256": sha256(base), "base": base.name,
                                "bytes": adapter.stat().st_size, **about}, indent=2) + "\n")
    return path


def verified_adapter(adapter: Path, base: Path) -> Path:
    """``adapter`` once it and ``base`` match the manifest beside it (if there is one)."""
    if not adapter.is_file():
        raise ModelError(f"no LoRA adapter file at {adapter}")
    manifest_path = adapter.with_suffix(".json")
    if not manifest_path.is_file():
        return adapter
    try:
        info = json.loads(manifest_path.read_text())
        expected, expected_base = info["sha256"], info["base_sha256"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelError(f"the manifest {manifest_path} is unreadable ({type(exc).__name__})") from None
    if sha256(adapter) != expected:
        raise ModelError(f"{adapter} does not match its recorded checksum in {manifest_path.name} (corrupt or replaced)")
    if sha256(base) != expected_base:
        raise ModelError(f"{adapter} was trained on another base model than {base} (base checksum differs)")
    return adapter
