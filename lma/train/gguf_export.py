"""Export a fine-tuned Llama-family planner to GGUF, so llama.cpp serves it (``llamacpp:FILE.gguf``).

On a CPU llama.cpp answers a planner step several times faster than transformers, which matters
when many episodes are evaluated. The export needs the GGUF the model was fine-tuned from (its
tokenizer, chat template and hyper-parameters are copied unchanged); only the weights change. The
Hugging Face tensors are renamed to llama.cpp's names and the query/key projections are permuted
back to llama.cpp's rotary layout (the inverse of what transformers does when it loads a GGUF).
Before writing, every tensor of the base file is checked against the same mapping applied to the
base weights as transformers loads them, so a wrong mapping fails loudly instead of producing a
model that answers nonsense. Matrices are written as Q8_0 (near-lossless), vectors as F32.

    lma finetune --export-gguf models/babyai --base llamacpp:smollm2-135m --out models/babyai.gguf
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from lma.errors import LmaError

NAMES = {
    "model.embed_tokens.weight": "token_embd.weight",
    "model.norm.weight": "output_norm.weight",
    "lm_head.weight": "output.weight",
}
LAYER = {
    "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down", "input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm",
}


def gguf_name(hf_name: str) -> str | None:
    if hf_name in NAMES:
        return NAMES[hf_name]
    m = re.fullmatch(r"model\.layers\.(\d+)\.(.+)\.weight", hf_name)
    return f"blk.{m.group(1)}.{LAYER[m.group(2)]}.weight" if m and m.group(2) in LAYER else None


def attention_heads(reader: Any) -> tuple[int, int]:
    """(query heads, key/value heads) of a Llama GGUF, for the rotary layout of its q/k weights."""
    return (int(reader.fields["llama.attention.head_count"].contents()),
            int(reader.fields["llama.attention.head_count_kv"].contents()))


def rotary_heads(name: str, heads: int, kv_heads: int) -> int:
    """How many heads the rows of the GGUF tensor ``name`` are permuted in (0: not permuted)."""
    return heads if name.endswith("attn_q.weight") else kv_heads if name.endswith("attn_k.weight") else 0


def to_gguf_layout(name: str, weight: np.ndarray, heads: int, kv_heads: int) -> np.ndarray:
    """llama.cpp's layout of a Hugging Face weight (q/k rows are interleaved per rotary pair)."""
    n = rotary_heads(name, heads, kv_heads)
    if not n:
        return weight
    return weight.reshape(n, 2, weight.shape[0] // n // 2, *weight.shape[1:]).swapaxes(1, 2).reshape(weight.shape)


def export_gguf(model_dir: str | Path, base: str, out: str | Path) -> Path:
    """Write ``out`` (a .gguf file) with the weights of ``model_dir`` and everything else of ``base``."""
    import gguf
    from transformers import AutoModelForCausalLM

    from lma.models.shipped import resolve_gguf

    base_path = resolve_gguf(base.split(":", 1)[1] if base.startswith("llamacpp:") else base)
    reader = gguf.GGUFReader(str(base_path))
    arch = str(reader.fields["general.architecture"].contents())
    if arch != "llama":
        raise LmaError(f"GGUF export supports Llama-family models, not {arch!r}")
    heads, kv_heads = attention_heads(reader)
    tuned = _weights(AutoModelForCausalLM.from_pretrained(str(model_dir), dtype="float32"), heads, kv_heads)
    base_hf = _weights(AutoModelForCausalLM.from_pretrained(str(base_path.parent), gguf_file=base_path.name,
                                                            dtype="float32"), heads, kv_heads)
    tensors = {}
    for t in reader.tensors:
        if t.name not in tuned:
            raise LmaError(f"{model_dir} has no weight for {t.name} of {base_path.name}: not fine-tuned from it?")
        original = gguf.quants.dequantize(t.data, t.tensor_type).reshape(base_hf[t.name].shape)
        if not np.allclose(original, base_hf[t.name], atol=1e-3):
            raise LmaError(f"GGUF export: {t.name} does not map onto {base_path.name}; refusing to write")
        tensors[t.name] = tuned[t.name]

    out = Path(out)
    tmp = out.with_name(out.name + ".partial")
    writer = gguf.GGUFWriter(str(tmp), arch)
    for field in reader.fields.values():
        if field.name == gguf.Keys.General.ARCHITECTURE or field.name.startswith("GGUF."):
            continue
        kind = field.types[0]
        value: Any = field.contents()
        if field.name == gguf.Keys.General.FILE_TYPE:
            value = int(gguf.LlamaFileType.MOSTLY_Q8_0)
        writer.add_key_value(field.name, value, kind, sub_type=field.types[-1] if kind == gguf.GGUFValueType.ARRAY else None)
    for name, weight in tensors.items():
        qtype = gguf.GGMLQuantizationType.Q8_0 if weight.ndim == 2 else gguf.GGMLQuantizationType.F32
        writer.add_tensor(name, gguf.quants.quantize(weight.astype(np.float32), qtype), raw_dtype=qtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    tmp.replace(out)
    return out


def _weights(model: Any, heads: int, kv_heads: int) -> dict[str, np.ndarray]:
    """The model's weights under llama.cpp's names and layout."""
    out = {}
    for hf_name, tensor in model.state_dict().items():
        name = gguf_name(hf_name)
        if name is not None:
            out[name] = to_gguf_layout(name, tensor.detach().float().numpy(), heads, kv_heads)
    return out


def export_lora_gguf(adapter_dir: str | Path, base: str, out: str | Path) -> Path:
    """Write a PEFT LoRA adapter (``lma finetune --lora --adapter-only``) as a llama.cpp LoRA GGUF,
    and its manifest beside it (:func:`lma.models.adapters.write_manifest`); returns the manifest.

    llama.cpp applies it over the base GGUF at load time (``W x + alpha / r * B A x``), so a
    fine-tuned planner ships as a few MB instead of a whole model. Tensors are named after the
    base tensor they adapt (``blk.N.attn_q.weight.lora_a`` / ``.lora_b``); the rows of ``B`` for
    the query and key projections are permuted to llama.cpp's rotary layout, as the base weights
    are. The adapter must have been trained on this base: every adapted tensor must exist in the
    base file with the matching shape, else nothing is written.
    """
    import gguf
    import torch
    from safetensors.torch import load_file

    from lma.models.adapters import write_manifest
    from lma.models.shipped import resolve_gguf

    folder = Path(adapter_dir)
    config_path, weights_path = folder / "adapter_config.json", folder / "adapter_model.safetensors"
    if not config_path.is_file() or not weights_path.is_file():
        raise LmaError(f"{folder} is not a LoRA adapter folder (needs adapter_config.json and "
                       "adapter_model.safetensors: train with --lora --adapter-only)")
    config = json.loads(config_path.read_text())
    base_path = resolve_gguf(base.split(":", 1)[1] if base.startswith("llamacpp:") else base)
    reader = gguf.GGUFReader(str(base_path))
    if str(reader.fields["general.architecture"].contents()) != "llama":
        raise LmaError("LoRA GGUF export supports Llama-family bases")
    heads, kv_heads = attention_heads(reader)
    shapes = {t.name: tuple(int(n) for n in reversed(t.shape)) for t in reader.tensors}
    tensors: dict[str, np.ndarray] = {}
    for key, value in load_file(str(weights_path)).items():
        m = re.fullmatch(r"(?:base_model\.model\.)?(.+)\.lora_([AB])\.weight", key)
        name = gguf_name(f"{m.group(1)}.weight") if m else None
        if name is None or name not in shapes:
            raise LmaError(f"{weights_path.name}: {key} adapts no tensor of {base_path.name}")
        array = value.to(torch.float32).numpy()
        if m.group(2) == "B":
            array = to_gguf_layout(name, array, heads, kv_heads)
            if array.shape[0] != shapes[name][0]:
                raise LmaError(f"{key} has {array.shape[0]} output rows, {name} of {base_path.name} has "
                               f"{shapes[name][0]}: an adapter for another base model")
        elif array.shape[1] != shapes[name][1]:
            raise LmaError(f"{key} takes {array.shape[1]} inputs, {name} of {base_path.name} takes "
                           f"{shapes[name][1]}: an adapter for another base model")
        tensors[f"{name}.lora_{m.group(2).lower()}"] = array
    out = Path(out)
    tmp = out.with_name(out.name + ".partial")
    writer = gguf.GGUFWriter(str(tmp), "llama")
    writer.add_string(gguf.Keys.General.TYPE, "adapter")
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(config.get("lora_alpha", config.get("r", 8))))
    for name in sorted(tensors):
        writer.add_tensor(name, tensors[name].astype(np.float16))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    tmp.replace(out)
    return write_manifest(out, base_path, _about(folder))


def _about(adapter_dir: Path) -> dict[str, Any]:
    """What ``lma finetune`` recorded about the adapter (data, settings, figures, prompt layout)."""
    info = adapter_dir / "lma-finetune.json"
    return {"training": json.loads(info.read_text())} if info.is_file() else {}
