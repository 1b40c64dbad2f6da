"""A vision-language model made here: a trained language model given a vision tower that is new.

No pretrained vision tower has seen BabyAI's POV render, and none can be downloaded on a machine
without network; so lma assembles one (``lma finetune --new-vision SIZE/PATCH``): a LLaVA-style
model (transformers' ``LlavaForConditionalGeneration``) of

- a small CLIP vision transformer, initialised at random: it learns to see from the frames of
  the training runs, trained in full;
- LLaVA's two-layer projector, from the tower's patch features to the language model's width;
- the given language model with its trained weights and tokenizer, plus an ``<image>`` token,
  rendering chats as ChatML, as SmolLM2 does (:mod:`lma.models.llava` pairs config and processor).

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
