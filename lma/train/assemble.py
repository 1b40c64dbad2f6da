"""A vision-language model made here: a trained language model given a vision tower that is new.

No pretrained vision tower has seen BabyAI's POV render, and none can be downloaded on a machine
without network; so lma assembles one (``lma finetune --new-vision SIZE/PATCH``): a LLaVA-style
model (transformers' ``LlavaForConditionalGeneration``) of

- a small CLIP vision transformer, initialised at random: it learns to see from the frames of
  the training runs, trained in full;
- LLaVA's two-layer projector, from the tower's patch features to the language model's width;
- the given language model with its trained weights and tokenizer, plus an ``<image>`` token,
  rendering chats as ChatML, as SmolLM2 does (:mod:`lma.models.llava` pairs config and processor).

A captioner needs no language model's knowledge, only its tokenizer: ``--new-language
WIDTH/LAYERS`` (:func:`new_language_model`) puts a small Llama decoder drawn at random in its place,
which keeps training cheap enough for a CPU (the output layer over the tokenizer's vocabulary is
most of its cost).

The tower reads the frame at ``image_size`` pixels in ``patch``-pixel squares, one image token per
square (CLIP's class token is dropped): BabyAI's 7x7 view at 16 pixels a tile is 112/16, one
token per tile. The processor resizes the shorter side to ``image_size`` and crops the centre, so
non-square frames lose their edges. The assembled model is trained at once and saved whole: an
ordinary folder that ``transformers:DIR`` loads, whose weights include the tower.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lma.errors import LmaError
from lma.models.chatml import IMAGE_TOKEN
from lma.models.llava import llava_config_and_processor


@dataclass(frozen=True)
class VisionSpec:
    """The new tower's shape: ``image_size`` / ``patch`` pixels, ``width`` features, ``layers`` blocks."""

    image_size: int = 112
    patch: int = 16
    width: int = 256
    layers: int = 4

    @classmethod
    def parse(cls, text: str) -> VisionSpec:
        """``SIZE/PATCH`` or ``SIZE/PATCH/WIDTH/LAYERS`` (``112/16``, ``112/16/256/4``)."""
        parts = text.split("/")
        try:
            numbers = [int(p) for p in parts]
        except ValueError:
            numbers = []
        if len(numbers) not in (2, 4) or min(numbers) <= 0:
            raise LmaError(f"--new-vision {text!r}: expected SIZE/PATCH or SIZE/PATCH/WIDTH/LAYERS "
                           "in positive whole numbers, e.g. 112/16")
        spec = cls(*numbers)
        if spec.image_size % spec.patch:
            raise LmaError(f"--new-vision {text!r}: the image size must be a multiple of the patch size")
        if spec.width % 64:
            raise LmaError(f"--new-vision {text!r}: the width must be a multiple of 64 (one attention head per 64)")
        return spec


@dataclass(frozen=True)
class LanguageSpec:
    """A new language model's shape: ``width`` features, ``layers`` Llama blocks."""

    width: int = 128
    layers: int = 2

    @classmethod
    def parse(cls, text: str) -> LanguageSpec:
        """``WIDTH/LAYERS`` (``128/2``)."""
        try:
            width, layers = (int(p) for p in text.split("/"))
        except ValueError:
            raise LmaError(f"--new-language {text!r}: expected WIDTH/LAYERS in positive whole numbers, "
                           "e.g. 128/2") from None
        if width <= 0 or layers <= 0 or width % 64:
            raise LmaError(f"--new-language {text!r}: both positive, the width a multiple of 64 "
                           "(one attention head per 64)")
        return cls(width, layers)


def new_language_model(tokenizer: Any, spec: LanguageSpec, seed: int = 0) -> Any:
    """A Llama causal LM over ``tokenizer``'s vocabulary, shaped by ``spec``, drawn from ``seed``."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=spec.width, intermediate_size=4 * spec.width,
                         num_hidden_layers=spec.layers, num_attention_heads=spec.width // 64,
                         num_key_value_heads=spec.width // 64, max_position_embeddings=2048,
                         tie_word_embeddings=True, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(seed)
    return LlamaForCausalLM(config)


def assemble_vlm(language_model: Any, tokenizer: Any, spec: VisionSpec, seed: int = 0) -> tuple[Any, Any]:
    """The (model, processor) of a LLaVA made of ``language_model`` and a new tower shaped by ``spec``.

    The language model's weights are copied in unchanged; the tower and projector are drawn from
    ``seed``. ``tokenizer`` gains the ``<image>`` token (and the embeddings a row for it).
    """
    import torch
    from transformers import CLIPVisionConfig, LlavaForConditionalGeneration

    if not hasattr(language_model, "model") or not hasattr(language_model, "lm_head"):
        raise LmaError(f"{type(language_model).__name__} is not a causal language model with a decoder and an "
                       "output layer: a new vision tower needs one")
    tokenizer.add_tokens([IMAGE_TOKEN], special_tokens=True)
    language_model.resize_token_embeddings(len(tokenizer))
    text_config = language_model.config
    vision = CLIPVisionConfig(hidden_size=spec.width, intermediate_size=4 * spec.width,
                              num_hidden_layers=spec.layers, num_attention_heads=spec.width // 64,
                              image_size=spec.image_size, patch_size=spec.patch, projection_dim=spec.width)
    config, processor = llava_config_and_processor(
        tokenizer, vision, text_config, tie_word_embeddings=getattr(text_config, "tie_word_embeddings", False))
    torch.manual_seed(seed)
    model = LlavaForConditionalGeneration(config)
    model.model.language_model.load_state_dict(language_model.model.state_dict())
    model.lm_head.load_state_dict(language_model.lm_head.state_dict())
    model.tie_weights()
    return model, processor
