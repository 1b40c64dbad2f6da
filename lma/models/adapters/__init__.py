"""Planners lma ships: LoRA adapters (GGUF) that llama.cpp applies over an embedded base model.

Each adapter ``NAME.gguf`` has a manifest ``NAME.json`` beside it: its SHA-256, the SHA-256 of the
base GGUF it was trained on, and how it was made (the config and commands that rebuild it, the
training figures). :func:`verified_adapter` checks both checksums before llama.cpp sees the file:
a missing, corrupt or foreign adapter is a one-line :class:`~lma.models.base.ModelError` naming
the file, never a silent fall-back to the untuned model.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from lma.models.base import ModelError

HERE = Path(__file__).parent


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def manifest(name: str, folder: Path | None = None) -> dict[str, Any]:
    """The manifest of adapter ``name`` (in ``folder``, default :data:`HERE`); a clear error when it
    is missing or unreadable."""
    path = (folder or HERE) / f"{name}.json"
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ModelError(f"the shipped planner {name!r} has no manifest at {path}: reinstall lma") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelError(f"the manifest {path} is unreadable ({exc}): reinstall lma") from None
    if not isinstance(data, dict) or not {"sha256", "base_sha256"} <= set(data):
        raise ModelError(f"the manifest {path} lacks sha256 / base_sha256: reinstall lma")
    return data


def write_manifest(adapter: Path, base: Path, about: dict[str, Any]) -> Path:
    """Write ``adapter``'s manifest beside it (``NAME.json``): both checksums and ``about`` (how it was made)."""
    path = adapter.with_suffix(".json")
    path.write_text(json.dumps({"sha256": sha256(adapter), "base_sha256": sha256(base), "base": base.name,
                                "bytes": adapter.stat().st_size, **about}, indent=2) + "\n")
    return path


def verified_adapter(name: str, base: Path, folder: Path | None = None) -> Path:
    """The path of adapter ``name`` once its checksum and its base's checksum match the manifest."""
    info = manifest(name, folder)
    path = (folder or HERE) / f"{name}.gguf"
    if not path.is_file():
        raise ModelError(f"the shipped planner {path} is missing: reinstall lma (or rebuild it: {info.get('rebuild', '')})")
    if sha256(path) != info["sha256"]:
        raise ModelError(f"{path} does not match its recorded checksum (corrupt or replaced): reinstall lma")
    if sha256(base) != info["base_sha256"]:
        raise ModelError(f"{path} was trained on another base model than {base} (base checksum differs)")
    return path
