"""What ``lma finetune`` recorded about how a planner was trained, read from a model spec's files.

A planner is trained on its exact prompt: the prompt layout of that lma and a number of past steps
(``lma finetune --history``). The agent that runs it must ask it the same prompt, so the record
travels with the weights: ``lma-finetune.json`` in a model folder made by ``lma finetune``, and the
``training`` entry of a LoRA GGUF's manifest (:mod:`lma.models.adapters`). :func:`training_record`
finds it from the spec alone, without loading the model, so an evaluation's parent can read it
before its workers reach the model through a shared server.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lma.models.base import ModelError, split_spec
from lma.models.shipped import PLANNERS

INFO_FILE = "lma-finetune.json"  # the record in a folder written by lma finetune


def training_record(spec: str) -> dict[str, Any]:
    """The training record of the model ``spec`` names; ``{}`` for a model lma did not train (or
    one behind an endpoint) or a name that is no spec. An unreadable record is also ``{}``: loading
    the model reports it."""
    try:
        backend, target, options = split_spec(spec)
    except ModelError:
        return {}
    if backend == "llamacpp":
        adapter = PLANNERS[target].path if target in PLANNERS else options.get("lora")
        if adapter is None:
            return {}
        record = _read(Path(adapter).expanduser().with_suffix(".json")).get("training")
        return record if isinstance(record, dict) else {}
    if backend == "transformers":
        return _read(Path(target).expanduser() / INFO_FILE)
    return {}


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
