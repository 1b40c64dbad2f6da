"""Fine-tuning vision-language planners: the frame of each step plus the prompt a planner sees.

A VLM planner is asked what a text planner is asked (:mod:`lma.planning.prompt`), with the
step's frame in the last user message, as the transformers backend sends it
(:func:`lma.models.transformers_backend.chat_prompt`). Earlier steps' frames are not in later
prompts, so each step is its own example (:class:`FrameExample`): the frame recorded for it
(``frame-NNNN.png`` in the run folder; runs recorded with ``--no-frames`` cannot train a VLM)
and the prompt, as recorded or rebuilt by replay (:mod:`lma.train.data`).

The base is any ``AutoModelForImageTextToText`` folder with its processor (LLaVA-style: vision
tower + projector + language model; Idefics3 / SmolVLM). Images are resized by the model's own
processor. With LoRA, adapters go on the language model's linear layers and the projector is
trained in full; the vision tower is trained in full too unless ``freeze_vision`` (a new tower
must learn; a pretrained one is usually kept). Without LoRA everything but a frozen tower trains.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from lma.core import EpisodeResult
from lma.errors import LmaError
from lma.models.base import Message
from lma.run.recording import RunDir
from lma.train.data import TrainingDataError, env_kwargs_of, episode_source, recorded_steps, replayed_steps

PROJECTOR_NAMES = ("multi_modal_projector", "connector", "projector", "merger")
VISION_NAMES = ("vision_tower", "vision_model", "visual")
E = TypeVar("E")  # an example of one step: a FrameExample, a captioner's, a tile reader's
LM_LINEAR = r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)$"


@dataclass
class FrameExample:
    """One step: the prompt (ending with the user message the frame goes with), the answer to train
    (a planner's call, a captioner's scene), the frame (a recorded file, or an H x W x 3 array)."""

    messages: list[Message]
    target: str
    image: Path | np.ndarray
    source: str


def frame_examples(run: RunDir, result: EpisodeResult, history: int) -> list[FrameExample]:
    """Every step of an episode with its recorded frame; refused when frames were not recorded."""
    rows = run.trajectory(result.episode_id)
    folder = run.path / "episodes" / result.episode_id
    source = episode_source(run, result)
    called = [r for r in rows if r.get("call")]
    if any(not r.get("frame") or not (folder / r["frame"]).is_file() for r in called):
        raise TrainingDataError(f"{source} has steps without a recorded frame: a vision-language planner trains on "
                                "frames, so record the runs with frames (without --no-frames)")
    per_row = [recorded_steps([r]) for r in called]
    if any(steps is None for steps in per_row):  # no prompts recorded: rebuild them by replay
        replayed = replayed_steps(rows, result.env, result.seed, source, history, env_kwargs_of(run, result.env))
        per_row = [[step] for step in replayed]
    return [FrameExample(step.prompt, step.target, folder / row["frame"], f"{source}#{row['step']}")
            for row, steps in zip(called, per_row) for step in steps or [] if step.trained]


def collect_frame_examples(sources: list[str | Path], history: int) -> list[FrameExample]:
    """The steps of the successful episodes of run folders, each with its frame."""
    return examples_from_runs(sources, lambda run, result: frame_examples(run, result, history),
                              "a vision-language planner trains from run folders (their frames)")


def examples_from_runs(sources: list[str | Path], of_episode: Callable[[RunDir, EpisodeResult], list[E]],
                       trains_from: str, successful_only: bool = True) -> list[E]:
    """``of_episode`` of every (successful) episode of the run folders; data files are refused
    with ``trains_from`` saying why."""
    examples: list[E] = []
    for path in sources:
        if str(path).endswith(".jsonl"):
            raise TrainingDataError(f"{path}: {trains_from}, not from saved text examples")
        run = RunDir.open(path)
        for result in run.results():
            if not successful_only or (result.success and not result.error):
                examples += of_episode(run, result)
    if not examples:
        which = "episode" if not successful_only else "successful episode"
        raise TrainingDataError(f"no {which} with steps in {', '.join(map(str, sources))}")
    return examples


def is_vlm_folder(spec: str) -> bool:
    """Whether a ``transformers:DIR`` (or bare folder) base is a vision-language model."""
    backend, _, target = spec.partition(":") if ":" in spec else ("transformers", "", spec)
    config = Path(target.partition("?")[0]) / "config.json"
    if backend != "transformers" or not config.is_file():
        return False
    from transformers import AutoConfig

    from lma.models.transformers_backend import is_vlm

    try:
        return is_vlm(AutoConfig.from_pretrained(config.parent, local_files_only=True))
    except (OSError, ValueError):
        return False


def load_vlm_base(spec: str) -> tuple[Any, Any]:
    """The (model, processor) of a local vision-language model folder, in float32."""
    from transformers import AutoModelForImageTextToText, AutoProcessor

    target = (spec.partition(":")[2] if spec.startswith("transformers:") else spec).partition("?")[0]
    try:
        processor = AutoProcessor.from_pretrained(target, local_files_only=True)
        model = AutoModelForImageTextToText.from_pretrained(target, dtype="float32", local_files_only=True)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise LmaError(f"cannot load the vision-language model {target} for training: {str(exc).splitlines()[0]}") from None
    if getattr(processor, "tokenizer", None) is None or not hasattr(processor, "image_processor"):
        raise LmaError(f"{target}: its processor has no tokenizer and image processor (a processor / model mismatch)")
    if not (getattr(processor, "chat_template", None) or getattr(processor.tokenizer, "chat_template", None)):
        raise LmaError(f"{target} has no chat template: the planner's prompts are chats")
    if processor.tokenizer.pad_token_id is None:
        processor.tokenizer.pad_token = processor.tokenizer.eos_token
    return model, processor


def _children(model: Any, names: tuple[str, ...]) -> list[str]:
    """Dotted names of the modules whose last part is one of ``names`` (outermost only)."""
    found: list[str] = []
    for name, _ in model.named_modules():
        if name.rpartition(".")[2] in names and not any(name.startswith(f + ".") for f in found):
            found.append(name)
    return found


def prepare(model: Any, lora: bool, rank: int, freeze_vision: bool) -> Any:
    """Set what trains (see the module docstring); returns the model to train."""
    projector, vision = _children(model, PROJECTOR_NAMES), _children(model, VISION_NAMES)
    if not projector:
        raise LmaError(f"{type(model).__name__}: no projector module found ({', '.join(PROJECTOR_NAMES)})")
    if lora:
        from peft import LoraConfig, get_peft_model

        if not any(re.match(LM_LINEAR, name) for name, _ in model.named_modules()):
            raise LmaError(f"{type(model).__name__}: no language-model linear layers for LoRA ({LM_LINEAR})")
        full = [n.rpartition(".")[2] for n in projector + ([] if freeze_vision else vision)]
        return get_peft_model(model, LoraConfig(r=rank, lora_alpha=2 * rank, lora_dropout=0.05,
                                                target_modules=LM_LINEAR, modules_to_save=sorted(set(full))))
    for name, param in model.named_parameters():
        param.requires_grad = not (freeze_vision and any(name.startswith(v + ".") for v in vision))
    return model


def encode(example: FrameExample, processor: Any, max_length: int) -> dict[str, Any] | None:
    """Processor outputs of prompt + answer, labels on the answer only; None if too long."""
    from PIL import Image

    from lma.models.transformers_backend import chat_prompt

    try:
        image = (Image.fromarray(example.image) if isinstance(example.image, np.ndarray)
                 else Image.open(example.image).convert("RGB"))
    except OSError as exc:
        raise TrainingDataError(f"{example.source}: the frame {example.image} is not a readable image ({exc})") from None
    prompt = chat_prompt(processor, example.messages, 1, structured=True)
    full = chat_prompt(processor, example.messages + [{"role": "assistant", "content": example.target}], 1,
                       structured=True, add_generation_prompt=False)
    if not full.startswith(prompt):
        raise TrainingDataError(f"{example.source}: the chat template renders the answer's conversation differently "
                                "from its prompt")
    try:
        whole = processor(text=[full], images=[[image]], return_tensors="pt")
        asked = processor(text=[prompt], images=[[image]], return_tensors="pt")
    except Exception as exc:  # processors raise ValueError, TypeError, IndexError... on bad images
        raise TrainingDataError(f"{example.source}: the processor rejected the frame: {str(exc).splitlines()[0]}") from None
    ids = whole["input_ids"][0]
    if len(ids) > max_length:
        return None
    labels = ids.clone()
    labels[: asked["input_ids"].shape[1]] = -100
    row = {k: v[0] for k, v in whole.items()}
    row["labels"] = labels
    return row


def collate(pad_id: int) -> Any:
    """Right-pads token rows; image tensors are stacked (one frame per row)."""
    import torch

    def collate_batch(rows: list[dict[str, Any]]) -> dict[str, Any]:
        width = max(len(r["input_ids"]) for r in rows)

        def pad(key: str, value: int) -> Any:
            return torch.stack([torch.nn.functional.pad(r[key], (0, width - len(r[key])), value=value) for r in rows])

        batch = {"input_ids": pad("input_ids", pad_id), "labels": pad("labels", -100),
                 "attention_mask": pad("attention_mask", 0)}
        for key in rows[0]:
            if key not in batch and key != "token_type_ids":
                batch[key] = torch.stack([r[key] for r in rows])
        return batch

    return collate_batch


def train_vlm(model: Any, processor: Any, examples: list[FrameExample], settings: Any, freeze_vision: bool,
              work_dir: Path, checkpoints: Path | None = None) -> tuple[Any, dict[str, Any]]:
    """Encode, choose what trains and train (:func:`lma.train.trainer.fit`); returns the model
    ready to save (LoRA merged unless ``settings.adapter_only``) and the run's figures."""
    from lma.train.trainer import fit

    rows = [r for r in (encode(e, processor, settings.max_length) for e in examples) if r is not None]
    model = prepare(model, settings.lora, settings.lora_rank, freeze_vision)
    return fit(model, rows, len(examples), collate(processor.tokenizer.pad_token_id), settings, work_dir, checkpoints)
