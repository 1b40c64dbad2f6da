"""``lma finetune``: fine-tune a local planner on recorded trajectories; the result is a Type II agent.

::

    lma run --agent expert --env babyai/GoToObj-v0 --episodes 200 --seed 1000 --no-frames --out runs/expert
    lma finetune --from runs/expert/RUN_ID --base llamacpp:smollm2-135m --out models/babyai --lora
    lma run --agent type2 --model transformers:models/babyai --env babyai/GoToObj-v0 --episodes 20

The successful episodes of the given run folders become chat-format examples
(:mod:`lma.train.data`: the planner's prompt at each step -> the tool call it made), and the base
model is trained on them (:mod:`lma.train.trainer`). The output folder appears only when it is
complete: everything is written to a temporary sibling folder that is renamed at the end, so an
interrupted or failed run never leaves a folder that looks complete. ``lma-finetune.json`` in it
records the data, settings and figures of the run. With ``--save-every N`` checkpoints are kept
in a hidden ``.OUT.checkpoints`` folder beside ``OUT``; the same command run again resumes from
the last one (another command is refused there), and the folder goes when the model is saved.

To train on another machine (a GPU box), save the data with ``--save-data FILE.jsonl``, train
there with ``--from FILE.jsonl --lora --adapter-only`` (the output is the adapter alone, a few MB),
and merge it here with ``lma finetune --merge ADAPTER_DIR --out DIR``. ``--export-gguf DIR --out
FILE.gguf`` writes a model fine-tuned from a GGUF base back to GGUF for llama.cpp
(:mod:`lma.train.gguf_export`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

from lma.errors import LmaError
from lma.models.records import INFO_FILE, training_record
from lma.planning.prompt import LAYOUT
from lma.train.assemble import LanguageSpec, VisionSpec, assemble_vlm, new_language_model

DEFAULT_BASE = "llamacpp:smollm2-135m"


def write_atomically(out: Path, write: Any) -> None:
    """Call ``write(tmp_dir)``, then rename the finished folder to ``out``; a failure leaves nothing."""
    if out.exists():
        raise LmaError(f"{out} already exists: choose a new --out folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        write(tmp)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def checkpoint_folder(out: Path, fingerprint: str) -> Path:
    """The checkpoint folder of the run making ``out``, made if new; refused if another run's."""
    folder = out.parent / f".{out.name}.checkpoints"
    stamp = folder / "run.json"
    if stamp.is_file() and json.loads(stamp.read_text()).get("fingerprint") != fingerprint:
        raise LmaError(f"{folder} holds the checkpoints of another training run (other data, base or settings): "
                       "run that command again to resume it, or remove the folder")
    folder.mkdir(parents=True, exist_ok=True)
    stamp.write_text(json.dumps({"fingerprint": fingerprint, "out": str(out)}))
    return folder


def run_fingerprint(examples: list[Any], base: str, settings: Any) -> str:
    """What a resumed run must share with the run it resumes: data, base and settings."""
    digest = hashlib.sha256(json.dumps([base, vars(settings)], sort_keys=True, default=str).encode())
    for e in examples:
        digest.update(json.dumps(dataclasses.asdict(e), ensure_ascii=False, default=str).encode())
    return digest.hexdigest()


def finetune(sources: list[str], base: str, out: str | Path, settings: Any, history: int | None = None,
             save_data: str | None = None, freeze_vision: bool = False,
             new_vision: VisionSpec | None = None, new_language: LanguageSpec | None = None,
             caption: bool = False, pretrain_vision: int = 0) -> dict[str, Any]:
    """Build the data, train, and write the model to ``out`` atomically; returns its info.

    A vision-language base (a transformers folder with a vision tower) trains on each step's
    frame plus its prompt (:mod:`lma.train.vlm`); any other on the prompts alone, unless
    ``new_vision`` gives it a new vision tower first (:mod:`lma.train.assemble`; ``new_language``
    puts a new small language model with the base's tokenizer in place of the base's). With
    ``caption`` the model learns to write each frame's scene instead of the planner's call
    (:mod:`lma.train.captions`). ``pretrain_vision`` epochs first teach the new tower to name each
    patch's tile (:mod:`lma.train.tiles`).
    """
    from lma.train.captions import collect_scene_examples
    from lma.train.tiles import collect_tile_examples, pretrain_tower
    from lma.train.data import collect_examples, episode_of, save_examples, training_history
    from lma.train.trainer import load_base, train
    from lma.train.vlm import collect_frame_examples, is_vlm_folder, load_vlm_base, train_vlm

    if Path(out).exists():
        raise LmaError(f"{out} already exists: choose a new --out folder")
    history = training_history(sources, history)
    vision = is_vlm_folder(base)
    if new_vision is not None:
        check_new_vision(base, vision, settings, freeze_vision)
        vision = True
    check_new_language(new_language, new_vision, settings)
    if pretrain_vision and new_vision is None:
        raise LmaError("--pretrain-vision teaches a new vision tower to see: give --new-vision too")
    if new_language is not None and settings.lr is None:  # from scratch: the fine-tuning default would crawl
        settings = dataclasses.replace(settings, lr=1e-3)
    if settings.warm_start:
        check_warm_start(settings.warm_start, base, settings, history, vision)
    if vision and settings.lora_layers:
        raise LmaError("--lora-layers: a vision-language planner's image tokens enter below the top layers "
                       "(drop --lora-layers)")
    if vision and save_data:
        raise LmaError("--save-data writes text examples; a vision-language planner trains from run folders")
    if freeze_vision and not vision:
        raise LmaError(f"--freeze-vision: {base} is not a vision-language model")
    if caption and not vision:
        raise LmaError(f"--caption: {base} does not see; a captioner needs a vision-language base or --new-vision")
    if vision:
        tiles = collect_tile_examples(sources) if pretrain_vision else []
        frames = collect_scene_examples(sources) if caption else collect_frame_examples(sources, history)
        examples: list[Any] = frames
        episodes = len({episode_of(e.source) for e in frames})
    else:
        examples, episodes = collect_examples(sources, history, settings.max_per_episode, settings.seed)
        if save_data:
            save_examples(examples, save_data, history)
    made_from = base if new_vision is None else f"{base} + new vision {new_vision} + {new_language or 'its LM'}"
    if pretrain_vision:
        made_from += f" + {pretrain_vision} epochs of tiles"
    fingerprint = run_fingerprint(examples, made_from, settings)
    checkpoints = checkpoint_folder(Path(out), fingerprint) if settings.save_every else None
    if new_vision is not None:
        language_model, tokenizer = load_base(base)
        if new_language is not None:
            language_model = new_language_model(tokenizer, new_language, settings.seed)
        model, tokenizer = assemble_vlm(language_model, tokenizer, new_vision, settings.seed)
    else:
        model, tokenizer = load_vlm_base(base) if vision else load_base(base)
    info = {"base": base, "from": list(sources), "episodes": episodes, "history": history,
            "prompt_layout": LAYOUT, "settings": vars(settings), "vision": vision,
            "task": "caption" if caption else "plan"}
    if vision:
        info["freeze_vision"] = freeze_vision
    if new_vision is not None:
        info["new_vision"] = dataclasses.asdict(new_vision)
    if new_language is not None:
        info["new_language"] = dataclasses.asdict(new_language)
    if pretrain_vision:
        info["pretrain_vision"] = pretrain_tower(model, tokenizer, tiles, pretrain_vision, settings.seed)

    def write(tmp: Path) -> None:
        if vision:
            trained, info["figures"] = train_vlm(model, tokenizer, frames, settings, freeze_vision, tmp, checkpoints)
        else:
            trained, info["figures"] = train(model, tokenizer, examples, settings, tmp, checkpoints)
        shutil.rmtree(tmp / "trainer", ignore_errors=True)
        trained.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)  # a VLM's processor: tokenizer, image processor, chat template
        info["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
        (tmp / INFO_FILE).write_text(json.dumps(info, indent=2))

    write_atomically(Path(out), write)
    if checkpoints is not None:
        shutil.rmtree(checkpoints, ignore_errors=True)
    return info


def tile_reader(sources: list[str], out: str | Path, spec: VisionSpec | None, settings: Any) -> dict[str, Any]:
    """Train a tile reader (``lma finetune --tiles``: a new tower shaped by ``spec`` and its heads,
    :mod:`lma.train.tiles`) on the runs' frames and write it to ``out`` atomically; returns its info."""
    from lma.train.tiles import collect_tile_examples, train_reader

    if spec is None:
        raise LmaError("--tiles trains a new vision tower: give its shape with --new-vision "
                       "(112/16 for BabyAI's 7x7 view)")
    if settings.lora or settings.warm_start or settings.adapter_only:
        raise LmaError("--tiles trains a tower and its heads in full: drop --lora, --adapter-only and --warm-start")
    if Path(out).exists():
        raise LmaError(f"{out} already exists: choose a new --out folder")
    examples = collect_tile_examples(sources)
    reader, figures = train_reader(spec, examples, settings.epochs, settings.seed, settings.batch_size,
                                   settings.lr or 1e-3)
    info = {"from": list(sources), "task": "tiles", "new_vision": dataclasses.asdict(spec),
            "settings": vars(settings), "figures": figures, "finished": time.strftime("%Y-%m-%d %H:%M:%S")}

    def write(tmp: Path) -> None:
        tmp.mkdir(parents=True)
        reader.save(tmp)
        (tmp / INFO_FILE).write_text(json.dumps(info, indent=2))

    write_atomically(Path(out), write)
    return info


def check_warm_start(adapter_dir: str, base: str, settings: Any, history: int, vision: bool) -> None:
    """Refuse an adapter to continue from that another run could not have made: it must be lma
    finetune's adapter (``--adapter-only``) of a text planner of the same base, rank, layers and
    prompt history, so the new round is the same model trained further, recorded truly."""
    if vision:
        raise LmaError("--warm-start continues a text planner's adapter; a vision-language planner trains from its base")
    from lma.train.gguf_import import lora_gguf

    if lora_gguf(adapter_dir) is not None:  # a LoRA GGUF lma exported (a shipped planner)
        record = training_record(adapter_dir)
    elif (Path(adapter_dir) / "adapter_config.json").is_file():
        record = training_record(f"transformers:{adapter_dir}")  # {} when missing or unreadable
    else:
        record = {}
    if not record:
        raise LmaError(f"--warm-start {adapter_dir}: not an adapter saved by `lma finetune --lora --adapter-only`, "
                       "nor a llamacpp spec with a LoRA GGUF it exported")
    if record.get("base") != base:
        raise LmaError(f"--warm-start {adapter_dir}: trained on {record.get('base')}, not on --base {base}")
    trained = record.get("settings") or {}
    if (trained.get("lora_rank"), trained.get("lora_layers")) != (settings.lora_rank, settings.lora_layers):
        layers = f" --lora-layers {trained['lora_layers']}" if trained.get("lora_layers") else " (no --lora-layers)"
        raise LmaError(f"--warm-start {adapter_dir}: give the adapter's own --lora-rank {trained.get('lora_rank')}{layers}")
    if record.get("history") != history or record.get("prompt_layout") != LAYOUT:
        raise LmaError(f"--warm-start {adapter_dir}: trained on prompts of --history {record.get('history')} "
                       f"(layout {record.get('prompt_layout')}), not --history {history} (layout {LAYOUT})")


def check_new_vision(base: str, vision: bool, settings: Any, freeze_vision: bool) -> None:
    """Refuse what a new vision tower cannot do: see :mod:`lma.train.assemble`."""
    if vision:
        raise LmaError(f"--new-vision: {base} has a vision tower already (drop --new-vision to fine-tune it)")
    if freeze_vision:
        raise LmaError("--freeze-vision: a new vision tower must learn (drop one of --freeze-vision, --new-vision)")
    if settings.adapter_only:
        raise LmaError("--adapter-only: a model with a new vision tower is saved whole, tower included "
                       "(drop --adapter-only)")


def check_new_language(new_language: LanguageSpec | None, new_vision: VisionSpec | None, settings: Any) -> None:
    """Refuse what a new language model cannot do: it comes with a new tower, and trains in full."""
    if new_language is None:
        return
    if new_vision is None:
        raise LmaError("--new-language goes with --new-vision: it makes a small VLM here, tower and language model new")
    if settings.lora:
        raise LmaError("--lora: a new language model has nothing to adapt and trains in full (drop --lora)")


def merge(adapter_dir: str, out: str | Path, base: str | None = None) -> dict[str, Any]:
    """Merge an adapter saved with ``--adapter-only`` into its base and save the full model."""
    from lma.train.trainer import merge_adapter
    from lma.train.vlm import is_vlm_folder, load_vlm_base

    info = training_record(f"transformers:{adapter_dir}")  # {} when missing or unreadable
    if not info:
        raise LmaError(f"{adapter_dir} is not an adapter saved by `lma finetune --adapter-only` (no readable {INFO_FILE})")
    base = base or info["base"]
    model, tokenizer = merge_adapter(adapter_dir, base, load_vlm_base if is_vlm_folder(base) else None)
    info.update(base=base, merged_from=str(adapter_dir), finished=time.strftime("%Y-%m-%d %H:%M:%S"))

    def write(tmp: Path) -> None:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / INFO_FILE).write_text(json.dumps(info, indent=2))

    write_atomically(Path(out), write)
    return info
