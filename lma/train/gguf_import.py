"""A LoRA GGUF made by lma, back into the PEFT adapter it was exported from, so training continues.

A shipped planner (``llamacpp:smollm2-135m-babyai``) lives in the repo as a llama.cpp LoRA GGUF
only; its PEFT folder stayed on the machine that trained it. The next DAgger round starts from the
planner users actually run: ``lma finetune --warm-start llamacpp:smollm2-135m-babyai`` (or
``llamacpp:BASE?lora=FILE.gguf``) reads the file back with the inverse of
:func:`lma.train.gguf_export.export_lora_gguf`: llama.cpp's tensor names become Hugging Face's, the
rows of ``B`` for the query and key projections are permuted back from llama.cpp's rotary layout,
and rank, alpha, adapted modules and layers are read off the tensors. The weights were written as
float16, so exporting the imported adapter again gives the same file's tensors bit for bit.
The adapter and its base are checked against the manifest first (:mod:`lma.models.adapters`).
"""

from __future__ import annotations

import contextlib
import json
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from lma.errors import LmaError
from lma.models.base import ModelError, split_spec
from lma.models.records import INFO_FILE, training_record
from lma.models.shipped import PLANNERS, gguf_files
from lma.train.gguf_export import LAYER, attention_heads, rotary_heads

HF_MODULE = {gguf: hf for hf, gguf in LAYER.items()}


def lora_gguf(spec: str) -> tuple[Path, Path] | None:
    """(base, verified LoRA GGUF) of a llama.cpp spec that applies one (a shipped planner's or
    ``?lora=``), else None."""
    try:
        backend, target, options = split_spec(spec)
    except ModelError:
        return None
    if backend != "llamacpp" or (target not in PLANNERS and "lora" not in options):
        return None
    base, adapter = gguf_files(target, options.get("lora"))
    return (base, adapter) if adapter is not None else None


def from_rotary_layout(name: str, weight: np.ndarray, heads: int, kv_heads: int) -> np.ndarray:
    """The inverse of :func:`lma.train.gguf_export.to_gguf_layout`."""
    n = rotary_heads(name, heads, kv_heads)
    if not n:
        return weight
    return weight.reshape(n, weight.shape[0] // n // 2, 2, *weight.shape[1:]).swapaxes(1, 2).reshape(weight.shape)


def import_lora_gguf(adapter: Path, base: Path, record: dict[str, Any], out: Path) -> Path:
    """Write the PEFT adapter folder ``out`` of ``adapter`` (a LoRA GGUF over the GGUF ``base``):
    config, weights and ``record`` (how it was trained, from its manifest:
    :func:`lma.models.records.training_record`)."""
    import gguf
    import torch
    from safetensors.torch import save_file

    reader = gguf.GGUFReader(str(adapter))
    if "adapter.lora.alpha" not in reader.fields:
        raise LmaError(f"{adapter} is not a LoRA GGUF (no adapter.lora.alpha)")
    if not record.get("base"):
        raise LmaError(f"{adapter}: its manifest has no training record, so its base and prompt are unknown")
    heads, kv_heads = attention_heads(gguf.GGUFReader(str(base)))
    weights, modules, layers, ranks = {}, set(), set(), set()
    for t in reader.tensors:
        m = re.fullmatch(r"blk\.(\d+)\.(\w+)\.weight\.lora_([ab])", t.name)
        if not m or m.group(2) not in HF_MODULE:
            raise LmaError(f"{adapter}: {t.name} is not a tensor lma's LoRA export writes")
        array = np.array(t.data, dtype=np.float32).reshape([int(n) for n in reversed(t.shape)])
        if m.group(3) == "b":
            array = from_rotary_layout(f"{m.group(2)}.weight", array, heads, kv_heads)
        else:
            ranks.add(array.shape[0])
        module = HF_MODULE[m.group(2)]
        weights[f"base_model.model.model.layers.{m.group(1)}.{module}.lora_{m.group(3).upper()}.weight"] = \
            torch.from_numpy(np.ascontiguousarray(array))
        modules.add(module.rsplit(".", 1)[1])
        layers.add(int(m.group(1)))
    if len(ranks) != 1:
        raise LmaError(f"{adapter}: its tensors have ranks {sorted(ranks)}, not one")
    alpha = float(reader.fields["adapter.lora.alpha"].contents())
    trained_layers = (record.get("settings") or {}).get("lora_layers")
    out.mkdir(parents=True, exist_ok=True)
    save_file(weights, str(out / "adapter_model.safetensors"))
    (out / "adapter_config.json").write_text(json.dumps({
        "peft_type": "LORA", "task_type": "CAUSAL_LM", "r": ranks.pop(),
        "lora_alpha": int(alpha) if alpha.is_integer() else alpha, "lora_dropout": 0.0, "bias": "none",
        "target_modules": sorted(modules), "layers_to_transform": sorted(layers) if trained_layers else None,
        "base_model_name_or_path": record["base"]}, indent=2))
    (out / INFO_FILE).write_text(json.dumps({**record, "imported_from": str(adapter)}, indent=2))
    return out


@contextlib.contextmanager
def adapter_folder(warm_start: str) -> Iterator[str]:
    """The PEFT folder to continue training from: ``warm_start`` itself, or a LoRA GGUF it names
    imported into a temporary folder for as long as the caller loads it."""
    files = lora_gguf(warm_start)
    if files is None:
        yield warm_start
        return
    base, adapter = files
    with tempfile.TemporaryDirectory(prefix="lma-warm-start-") as tmp:
        yield str(import_lora_gguf(adapter, base, training_record(warm_start), Path(tmp)))
