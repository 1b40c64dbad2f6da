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


def to_gguf_layout(name: str, weight: np.ndarray, heads: int, kv_heads: int) -> np.ndarray:
    """llama.cpp's layout of a Hugging Face weight (q/k rows are interleaved per rotary pair)."""
    n = heads if name.endswith("attn_q.weight") else kv_heads if name.endswith("attn_k.weight") else 0
    if not n:
        return weight
    return weight.reshape(n, 2, weight.shape[0] // n // 2, *weight.shape[1:]).swapaxes(1, 2).reshape(weight.shape)


def export_gguf(model_dir: str | Path, base: str, out: str | Path) -> Path:
    """Write ``out`` (a .gguf file) with the weights of ``model_dir`` and everything else of ``base``."""
    import gguf
    from transformers import AutoModelForCausalLM

    from lma.models.llamacpp import resolve_gguf

    base_path = resolve_gguf(base.split(":", 1)[1] if base.startswith("llamacpp:") else base)
    reader = gguf.GGUFReader(str(base_path))
    arch = str(reader.fields["general.architecture"].contents())
    if arch != "llama":
        raise LmaError(f"GGUF export supports Llama-family models, not {arch!r}")
    heads = int(reader.fields["llama.attention.head_count"].contents())
    kv_heads = int(reader.fields["llama.attention.head_count_kv"].contents())
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
