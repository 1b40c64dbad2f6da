"""LLaVA as lma builds it: a config and a processor that agree on how a frame becomes tokens.

The tiny test VLM (:func:`lma.models.tiny.tiny_llava`) and the VLMs lma assembles
(:mod:`lma.train.assemble`) pair a CLIP vision tower with a language model the same way: the
tower's class token is dropped (the ``default`` feature strategy, so the processor counts one
additional token to drop), its last layer is read, each ``patch``-pixel square of the frame is
one ``<image>`` token, the frame is resized to the tower's size (shorter side, then a centre
crop), and chats render as :data:`lma.models.chatml.CHATML_WITH_IMAGES`.
"""

from __future__ import annotations

from typing import Any

from lma.models.chatml import CHATML_WITH_IMAGES, IMAGE_TOKEN


def llava_config_and_processor(tokenizer: Any, vision: Any, text_config: Any, **config: Any) -> tuple[Any, Any]:
    """The ``LlavaConfig`` of a ``vision`` tower (a ``CLIPVisionConfig``) before ``text_config``,
    and the ``LlavaProcessor`` that feeds it; ``tokenizer`` must hold the ``<image>`` token."""
    from transformers import LlavaConfig, LlavaProcessor

    llava = LlavaConfig(vision_config=vision, text_config=text_config,
                        image_token_index=tokenizer.convert_tokens_to_ids(IMAGE_TOKEN),
                        vision_feature_select_strategy="default", vision_feature_layer=-1,
                        pad_token_id=tokenizer.pad_token_id, **config)
    side = vision.image_size
    processor = LlavaProcessor(
        image_processor=clip_image_processor(side),
        tokenizer=tokenizer, patch_size=vision.patch_size, vision_feature_select_strategy="default",
        chat_template=CHATML_WITH_IMAGES, num_additional_image_tokens=1,  # CLIP's class token
    )
    return llava, processor


def clip_image_processor(side: int) -> Any:
    """CLIP's image processor for a tower of ``side`` pixels: the shorter side resized to it, then
    the centre cropped, CLIP's normalisation."""
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    return CLIPImageProcessorPil(size={"shortest_edge": side}, crop_size={"height": side, "width": side})
