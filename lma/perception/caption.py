"""``caption:MODEL_SPEC`` and ``scene:MODEL_SPEC``: a model that sees describes the frame for a
text-only planner.

The two-model composition of LMA surveys: a VLM perceives, an LLM plans. The VLM (any lma model
that takes images: ``transformers:/path/to/vlm``, ``openai:URL#name``, ...) is asked about the
frame and its answer joins the observation text. The planner also gets the frame if its own model
takes images. The answer and what it cost are recorded; if the VLM fails, the step goes on without
it and the error is recorded instead.

- ``caption``: a general VLM is asked to describe the frame with the task in mind; its caption is
  added under a heading that names it.
- ``scene``: a captioner trained to write the env's own sentences for the frame (``lma finetune
  --caption``, from envs whose observations carry ``data["scene"]``) is asked :data:`SCENE_PROMPT`,
  exactly as it was trained, and its lines join the text as if the env had written them: a planner
  trained on the env's full text reads them unchanged.
"""

from __future__ import annotations

from typing import Any

from lma.core import Observation
from lma.errors import LmaError
from lma.models.base import ChatModel, Message, ModelError, load_model
from lma.perception.base import Percept, Perceiver, shown

PROMPT = ("Describe this image for an agent that cannot see it: the objects, their colors and positions, "
          "and any text. Be brief and factual.")
SCENE_PROMPT = "Describe the scene."


def scene_request() -> list[Message]:
    """The one request a scene captioner answers: in training (:mod:`lma.train.captions`) and here."""
    return [{"role": "user", "content": SCENE_PROMPT}]


class Caption(Perceiver):
    """Frame -> caption text by a VLM; see the module docstring."""

    kind = "caption"

    def __init__(self, model: str | ChatModel | None = None, *, prompt: str = PROMPT, max_tokens: int = 96):
        if not model:
            raise LmaError(f"the {self.kind} perceiver needs a vision-language model: "
                           f"--perceiver {self.kind}:MODEL_SPEC, e.g. {self.kind}:transformers:/path/to/vlm")
        self.vlm = load_model(model)
        if not self.vlm.supports_images:
            raise LmaError(f"{self.kind} needs a model that takes images; {self.vlm.name} does not")
        self.name = f"{self.kind}:{self.vlm.name}"
        self.prompt, self.max_tokens = prompt, max_tokens

    def request(self, obs: Observation) -> list[Message]:
        goal = (obs.get("data") or {}).get("goal")
        return [{"role": "user", "content": f"{self.prompt}\nThe agent's task: {goal}" if goal else self.prompt}]

    def joined(self, text: str, caption: str) -> str:
        return f"{text}\n\nWhat the image shows (described by {self.vlm.name}): {caption}"

    def perceive(self, obs: Observation, model: Any = None) -> Percept:
        text, image = obs.get("text", ""), obs.get("image")
        if image is None:
            return Percept(text)
        try:
            answer = self.vlm.complete(self.request(obs), images=(image,), max_tokens=self.max_tokens, temperature=0.0)
        except ModelError as exc:
            return Percept(text, shown(image, model), {"caption_error": str(exc)})
        caption = answer.text.strip()
        return Percept(self.joined(text, caption), shown(image, model), {"caption": caption}, answer.usage)


class Scene(Caption):
    """Frame -> the env's own sentences for it, by a captioner trained here; see the module docstring."""

    kind = "scene"

    def __init__(self, model: str | ChatModel | None = None, *, max_tokens: int = 96):
        super().__init__(model, prompt=SCENE_PROMPT, max_tokens=max_tokens)

    def request(self, obs: Observation) -> list[Message]:
        return scene_request()

    def joined(self, text: str, caption: str) -> str:
        return f"{text}\n{caption}" if caption else text  # an empty view says nothing, as the env's text would


def from_spec(target: str | None = None, **options: Any) -> Caption:
    """``caption:MODEL_SPEC``: the captioning model is the target."""
    return Caption(target, **options)


def scene_from_spec(target: str | None = None, **options: Any) -> Scene:
    """``scene:MODEL_SPEC``: the scene captioner is the target."""
    return Scene(target, **options)
