"""``caption:MODEL_SPEC``: a vision-language model describes the frame for a text-only planner.

The two-model composition of LMA surveys: a VLM perceives, an LLM plans. The VLM (any lma model
that takes images: ``transformers:/path/to/vlm``, ``openai:URL#name``, ...) is asked to describe
the frame with the task in mind; its caption is added to the observation text. The planner also
gets the frame if its own model takes images. The caption and what it cost are recorded; if the
VLM fails, the step goes on without a caption and the error is recorded instead.
"""

from __future__ import annotations

from typing import Any

from lma.core import Observation
from lma.models.base import ChatModel, ModelError, load_model
from lma.perception.base import Percept, Perceiver, shown
from lma.errors import LmaError

PROMPT = ("Describe this image for an agent that cannot see it: the objects, their colors and positions, "
          "and any text. Be brief and factual.")


class Caption(Perceiver):
    """Frame -> caption text by a VLM; see the module docstring."""

    def __init__(self, model: str | ChatModel | None = None, *, prompt: str = PROMPT, max_tokens: int = 96):
        if not model:
            raise LmaError("the caption perceiver needs a vision-language model: --perceiver caption:MODEL_SPEC, "
                           "e.g. caption:transformers:/path/to/vlm")
        self.vlm = load_model(model)
        if not self.vlm.supports_images:
            raise LmaError(f"caption needs a model that takes images; {self.vlm.name} does not")
        self.name = f"caption:{self.vlm.name}"
        self.prompt, self.max_tokens = prompt, max_tokens

    def perceive(self, obs: Observation, model: Any = None) -> Percept:
        text, image = obs.get("text", ""), obs.get("image")
        if image is None:
            return Percept(text)
        goal = (obs.get("data") or {}).get("goal")
        ask = f"{self.prompt}\nThe agent's task: {goal}" if goal else self.prompt
        try:
            answer = self.vlm.complete([{"role": "user", "content": ask}], images=(image,),
                                       max_tokens=self.max_tokens, temperature=0.0)
        except ModelError as exc:
            return Percept(text, shown(image, model), {"caption_error": str(exc)})
        caption = answer.text.strip()
        return Percept(f"{text}\n\nWhat the image shows (described by {self.vlm.name}): {caption}",
                       shown(image, model), {"caption": caption}, answer.usage)


def from_spec(target: str | None = None, **options: Any) -> Caption:
    """``caption:MODEL_SPEC``: the captioning model is the target."""
    return Caption(target, **options)
