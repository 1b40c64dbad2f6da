"""Training the top layers of a decoder over cached outputs of the frozen layers below (``--lora-layers K``).

With LoRA on the top K of a decoder's N layers only, the N - K layers below never change, so what
they make of an example is the same in every epoch. It is computed once, forward only, and kept
in memory (2 bytes per token and unit of width in bfloat16: under a GB for the BabyAI planner's
817k tokens); every optimizer step then runs the top K layers alone, forward and backward. An
epoch costs about K / N of a full one, plus one forward pass of the frozen layers for the whole
run. The price is capacity: only the top K layers adapt.

While training, the decoder holds its top K layers only and takes the cached activations as its
input embeddings (:func:`top_layers_only`); the full stack is back before anything is saved, so
the adapter's tensors are named after the layers they adapt, as with LoRA on every layer.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from lma.errors import LmaError


class _Reached(Exception):
    """Raised by the hook on the first trained layer: the frozen layers' output is all we wanted."""

    def __init__(self, hidden: Any) -> None:
        self.hidden = hidden


def decoder_of(model: Any) -> Any:
    """The decoder (embeddings and layer stack) of a causal LM, PEFT-wrapped or not."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    decoder = base.get_decoder() if hasattr(base, "get_decoder") else None
    if decoder is None or not hasattr(decoder, "layers"):
        raise LmaError("--lora-layers: this model has no decoder layer stack to split")
    return decoder


def trained_layer_indices(model: Any, top: int) -> list[int]:
    """Indices of the top ``top`` decoder layers, the ones LoRA adapts; an error if out of range."""
    count = len(decoder_of(model).layers)
    if not 1 <= top <= count:
        raise LmaError(f"--lora-layers {top}: the model has {count} decoder layers (give 1 to {count})")
    return list(range(count - top, count))


def layer_linear_names(model: Any) -> list[str]:
    """Names of the linear modules inside the decoder layers (``q_proj``, ``down_proj``...): what
    LoRA's "all-linear" adapts, spelled out, since PEFT takes a layer subset only with a list."""
    import torch

    return sorted({name.rpartition(".")[2] for name, module in decoder_of(model).layers.named_modules()
                   if isinstance(module, torch.nn.Linear)})


def cache_frozen_outputs(model: Any, rows: list[dict[str, Any]], top: int, bf16: bool) -> None:
    """Give each encoded row ``hidden``: the frozen layers' output for its tokens (the input of the
    first trained layer), computed without gradients, stored in bfloat16 when training uses it.
    A pass over every example before the first step: a progress bar on stderr shows it."""
    import torch
    from tqdm import tqdm

    decoder = decoder_of(model)
    first_trained = decoder.layers[trained_layer_indices(model, top)[0]]

    def stop(_module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        raise _Reached(args[0] if args else kwargs["hidden_states"])

    handle = first_trained.register_forward_pre_hook(stop, with_kwargs=True)
    device = next(decoder.parameters()).device
    dtype = torch.bfloat16 if bf16 else torch.float32
    try:
        with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            for row in tqdm(rows, desc="frozen layers", unit="example", file=sys.stderr, dynamic_ncols=True):
                try:
                    decoder(input_ids=torch.tensor([row["input_ids"]], device=device))
                except _Reached as reached:
                    row["hidden"] = reached.hidden[0].to(dtype)
    finally:
        handle.remove()


@contextmanager
def top_layers_only(model: Any, top: int) -> Iterator[None]:
    """While inside, the decoder runs its top ``top`` layers only (fed the cached activations as
    ``inputs_embeds``); the whole stack is restored on the way out, whatever happens."""
    import torch

    decoder = decoder_of(model)
    stack = decoder.layers
    decoder.layers = torch.nn.ModuleList(stack[i] for i in trained_layer_indices(model, top))
    try:
        yield
    finally:
        decoder.layers = stack
