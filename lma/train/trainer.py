"""Supervised fine-tuning of a local planner with the transformers ``Trainer`` (full or PEFT LoRA).

What a user must know: the base is ``transformers:DIR`` (or a bare folder holding a Hugging Face
causal LM) or ``llamacpp:NAME_OR_GGUF``: a GGUF file is loaded through transformers
(``gguf_file=``, dequantised to float32); transformers refuses ``save_pretrained`` on a model
loaded from GGUF, so a plain model is rebuilt from its config and given the loaded weights. The
loss is computed on the target tokens only (each tool call and its end-of-turn token); prompt
tokens are masked with -100. An example is a conversation of several steps (:mod:`lma.train.data`). LoRA adapters are merged into the base before saving, so the output
is an ordinary ``save_pretrained`` folder (weights, config, tokenizer with its chat template)
that ``transformers:DIR`` loads like any checkpoint. With ``adapter_only`` the adapter alone is
kept (a few MB: easy to copy from the machine that trained it), and :func:`merge_adapter` merges
it into its base later. Runs on CUDA when present, else on the CPU
with bfloat16 autocast where the CPU supports it (about twice as fast as float32 here).

The output layer is applied to the target positions only (:func:`target_loss`): a small model's
vocabulary projection is a fifth of its compute per token, and most tokens are prompt. With
``save_every`` the run keeps a checkpoint every N optimizer steps in ``checkpoints`` and, started
again with the same data and settings, resumes from the last one (a run killed after hours loses
minutes).
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lma.errors import LmaError
from lma.train.data import Example


class FinetuneError(LmaError):
    """A base model that cannot be loaded or trained, or training settings that cannot work."""


@dataclass
class TrainSettings:
    lora: bool = False
    epochs: float = 1.0
    lr: float | None = None  # default: 1e-3 with LoRA, 5e-5 for full fine-tuning
    batch_size: int = 16
    max_steps: int | None = None
    max_length: int = 1024
    lora_rank: int = 16
    lora_layers: int | None = None  # LoRA on the top N decoder layers only, over cached lower ones (frozen_layers)
    seed: int = 0
    adapter_only: bool = False  # keep the LoRA adapter unmerged: small enough to copy off a GPU box
    save_every: int | None = None  # optimizer steps between checkpoints (None: no checkpoints)
    warm_start: str | None = None  # a LoRA adapter folder to continue from (a DAgger round), its rank and layers
    max_per_episode: int | None = None  # examples drawn from each episode at most (lma.train.data.capped)


def load_base(spec: str) -> tuple[Any, Any]:
    """The (model, tokenizer) to train, from a model spec; see the module docstring."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    backend, _, target = spec.partition(":") if ":" in spec else ("transformers", "", spec)
    target = target.partition("?")[0]
    try:
        if backend == "llamacpp":
            from lma.models.shipped import resolve_gguf

            gguf = resolve_gguf(target)
            tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
            loaded = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype="float32")
            config = loaded.config
            # A plain model: without this the saved config would say "GGUF-quantized" and loaders
            # would treat the trained float weights as packed GGUF ones.
            if hasattr(config, "quantization_config"):
                del config.quantization_config
            model = AutoModelForCausalLM.from_config(config)
            model.load_state_dict(loaded.state_dict())
        elif backend == "transformers":
            if not Path(target).is_dir():
                raise FinetuneError(f"base model folder not found: {target}")
            tokenizer = AutoTokenizer.from_pretrained(target)
            model = AutoModelForCausalLM.from_pretrained(target, dtype="float32")
        else:
            raise FinetuneError(f"cannot fine-tune {spec!r}: the base must be a local model, "
                                "transformers:DIR or llamacpp:NAME_OR_GGUF")
    except LmaError:
        raise
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise FinetuneError(f"cannot load base model {spec!r} for training: {exc}") from None
    if not getattr(tokenizer, "chat_template", None):
        raise FinetuneError(f"base model {spec!r} has no chat template: the planner's prompts are chats")
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


def encode(example: Example, tokenizer: Any, max_length: int) -> dict[str, list[int]] | None:
    """Token ids of the conversation, with labels only on its targets; None if too long.

    Each target is preceded by its prompt as inference renders it (the chat template with the
    generation prompt); the label span is what the template appends for the assistant's answer
    (call + end of turn). The spans are tokenized piece by piece, as they are rendered.
    """
    ids: list[int] = []
    labels: list[int] = []
    rendered = ""
    targets = [i for i in range(len(example.messages)) if example.is_target(i)]
    for index in targets:
        prompt = tokenizer.apply_chat_template(example.messages[:index], tokenize=False, add_generation_prompt=True)
        full = tokenizer.apply_chat_template(example.messages[:index + 1], tokenize=False)
        if not prompt.startswith(rendered):
            raise FinetuneError(f"{example.source}: the chat template renders a conversation differently from "
                                "its prefix, so its steps cannot share one sequence")
        answer = full[len(prompt):] if full.startswith(prompt) else example.messages[index]["content"] + tokenizer.eos_token
        context = tokenizer(prompt[len(rendered):], add_special_tokens=False)["input_ids"]
        target = tokenizer(answer, add_special_tokens=False)["input_ids"]
        ids += context + target
        labels += [-100] * len(context) + target
        rendered = prompt + answer
    if not ids or len(ids) > max_length:
        return None
    return {"input_ids": ids, "labels": labels}


def collate(pad_id: int) -> Any:
    """Right-pads a batch; padded positions are out of the loss.

    No attention mask: in a causal model a token attends only to earlier ones, so padding on the
    right is never seen by a real token, and its positions count from 0 as without padding. The
    loss is the masked one exactly, and attention takes its fused causal path (1.6x faster on the
    CPU than with a padding mask).
    """
    import torch
    import torch.nn.functional as F

    def collate_batch(rows: list[dict[str, Any]]) -> dict[str, Any]:
        width = max(len(r["input_ids"]) for r in rows)
        ids = [r["input_ids"] + [pad_id] * (width - len(r["input_ids"])) for r in rows]
        labels = [r["labels"] + [-100] * (width - len(r["labels"])) for r in rows]
        batch = {"input_ids": torch.tensor(ids), "labels": torch.tensor(labels)}
        if "hidden" in rows[0]:  # the frozen layers' cached output (lma.train.frozen_layers)
            batch["hidden"] = torch.stack([F.pad(r["hidden"], (0, 0, 0, width - len(r["hidden"]))) for r in rows])
        return batch

    return collate_batch


def target_loss(model: Any, inputs: dict[str, Any]) -> Any:
    """Mean cross-entropy of the target tokens (labels != -100), equal to the causal LM's own loss.

    The decoder runs on every position, the output layer only where the next token is a target.
    Models without ``get_decoder``/``get_output_embeddings``, and inputs with images (the decoder
    alone would not see them), get the model's own forward's loss.
    """
    import torch.nn.functional as F

    if "pixel_values" in inputs:
        return model(**inputs).loss
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    decoder, head = base.get_decoder(), base.get_output_embeddings()
    if decoder is None or head is None or decoder is base:
        return model(**inputs).loss
    if "hidden" in inputs:  # the frozen layers ran once, before training: the top ones start from their output
        hidden = decoder(inputs_embeds=inputs["hidden"].float()).last_hidden_state
    else:
        hidden = decoder(input_ids=inputs["input_ids"], attention_mask=inputs.get("attention_mask")).last_hidden_state
    labels = inputs["labels"][:, 1:]
    wanted = labels != -100
    logits = head(hidden[:, :-1][wanted]).float()
    return F.cross_entropy(logits, labels[wanted])


def _trainer_class() -> Any:
    from transformers import Trainer

    class TargetTrainer(Trainer):
        """The transformers Trainer with :func:`target_loss`, under the run's bfloat16 autocast:
        the Trainer applies it by wrapping the model's ``forward``, which the decoder-and-head
        path does not call (without this it trained in float32, 2.5x slower on this CPU)."""

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):  # type: ignore[override]
            import torch

            device = "cuda" if torch.cuda.is_available() else "cpu"
            with torch.autocast(device, dtype=torch.bfloat16, enabled=self.args.bf16):
                loss = target_loss(model, inputs)
            return (loss, None) if return_outputs else loss

    return TargetTrainer


def _last_checkpoint(folder: Path) -> str | None:
    """The newest complete checkpoint (a run killed while saving leaves one without its state)."""
    complete = [p for p in folder.glob("checkpoint-*")
                if p.name.rpartition("-")[2].isdigit() and (p / "trainer_state.json").is_file()]
    return str(max(complete, key=lambda p: int(p.name.rpartition("-")[2]))) if complete else None


def _tokens_seen(checkpoint: str | None) -> int:
    """Training tokens already seen at ``checkpoint`` (so a resumed run's speed is its own)."""
    if checkpoint is None:
        return 0
    import json

    state = json.loads((Path(checkpoint) / "trainer_state.json").read_text())
    return int(state.get("num_input_tokens_seen") or 0)


def train(model: Any, tokenizer: Any, examples: list[Example], settings: TrainSettings,
          work_dir: Path, checkpoints: Path | None = None) -> tuple[Any, dict[str, Any]]:
    """Train and return the model ready to save (LoRA merged) and figures about the run.

    ``checkpoints`` (with ``settings.save_every``) is where checkpoints are kept and resumed
    from; the caller checks that a folder it reuses belongs to the same run.
    """
    rows = [r for r in (encode(e, tokenizer, settings.max_length) for e in examples) if r is not None]
    if settings.lora and settings.warm_start:
        from peft import PeftModel

        from lma.train.gguf_import import adapter_folder

        with adapter_folder(settings.warm_start) as folder:
            model = PeftModel.from_pretrained(model, folder, is_trainable=True)
    elif settings.lora:
        from peft import LoraConfig, get_peft_model

        from lma.train.frozen_layers import layer_linear_names, trained_layer_indices

        targets: Any = "all-linear"
        layers = None
        if settings.lora_layers:
            targets, layers = layer_linear_names(model), trained_layer_indices(model, settings.lora_layers)
        model = get_peft_model(model, LoraConfig(r=settings.lora_rank, lora_alpha=2 * settings.lora_rank,
                                                 lora_dropout=0.0, target_modules=targets,
                                                 layers_to_transform=layers, task_type="CAUSAL_LM"))
    return fit(model, rows, len(examples), collate(tokenizer.pad_token_id), settings, work_dir, checkpoints)


def fit(model: Any, rows: list[dict[str, Any]], given: int, collator: Any, settings: TrainSettings,
        work_dir: Path, checkpoints: Path | None = None) -> tuple[Any, dict[str, Any]]:
    """Train ``model`` (its trainable parameters already chosen) on encoded ``rows`` (of ``given``
    examples: the others were too long); see :func:`train`."""
    import torch
    from transformers import TrainingArguments

    if not rows:
        raise FinetuneError(f"every example is longer than --max-length {settings.max_length} tokens")
    if not any(p.requires_grad for p in model.parameters()):
        raise FinetuneError("the base model has no trainable parameters")
    cuda = torch.cuda.is_available()
    bf16 = cuda and torch.cuda.is_bf16_supported() or not cuda and _cpu_bf16()
    keep = checkpoints is not None and bool(settings.save_every)
    args = TrainingArguments(
        output_dir=str(checkpoints if keep else work_dir / "trainer"), per_device_train_batch_size=settings.batch_size,
        num_train_epochs=settings.epochs, max_steps=settings.max_steps or -1,
        learning_rate=settings.lr or (1e-3 if settings.lora else 5e-5), lr_scheduler_type="cosine",
        warmup_steps=0.05, weight_decay=0.0, logging_steps=10, report_to=[],
        save_strategy="steps" if keep else "no", save_steps=settings.save_every or 500, save_total_limit=2,
        bf16=bf16, use_cpu=not cuda, dataloader_num_workers=0, remove_unused_columns=False,
        seed=settings.seed, include_num_input_tokens_seen="non_padding",
        train_sampling_strategy="group_by_length",  # batches of similar length: little padding
    )
    trainer = _trainer_class()(model=model, args=args, train_dataset=rows, data_collator=collator)
    resume = _last_checkpoint(checkpoints) if keep and checkpoints is not None else None
    seen_before = _tokens_seen(resume)  # read now: training rotates old checkpoints away
    start = time.perf_counter()
    stack: Any = contextlib.nullcontext()
    if settings.lora_layers:
        from lma.train.frozen_layers import cache_frozen_outputs, top_layers_only

        cache_frozen_outputs(model, rows, settings.lora_layers, bf16)  # on the Trainer's device
        stack = top_layers_only(model, settings.lora_layers)
    with stack:
        output = trainer.train(resume_from_checkpoint=resume)
    seconds = time.perf_counter() - start
    tokens = int(trainer.state.num_input_tokens_seen) - seen_before
    if settings.lora and not settings.adapter_only:
        model = model.merge_and_unload()
    figures = {
        "examples": len(rows), "skipped_too_long": given - len(rows), "steps": trainer.state.global_step,
        "train_loss": round(float(output.training_loss), 4), "seconds": round(seconds, 1), "tokens": tokens,
        "tokens_per_second": round(tokens / seconds, 1) if seconds else None,
        "device": "cuda" if cuda else "cpu", "bf16": bf16, "resumed_from": resume,
    }
    return model, figures


def merge_adapter(adapter_dir: str | Path, base: str, load: Any = None) -> tuple[Any, Any]:
    """The base model with a saved LoRA adapter merged in, and the base's tokenizer (a
    vision-language base's processor); ``load`` loads the base (default :func:`load_base`)."""
    from peft import PeftModel

    model, tokenizer = (load or load_base)(base)
    try:
        model = PeftModel.from_pretrained(model, str(adapter_dir)).merge_and_unload()
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise FinetuneError(f"cannot merge the adapter in {adapter_dir} into {base}: {exc}") from None
    return model, tokenizer


def _cpu_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX512-BF16 or AMX); elsewhere autocast is slower."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags
