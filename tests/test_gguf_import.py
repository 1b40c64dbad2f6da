"""A shipped planner's LoRA GGUF read back as the PEFT adapter it was exported from (--warm-start)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("peft")
gguf = pytest.importorskip("gguf")

from lma.cli import main  # noqa: E402
from lma.errors import LmaError  # noqa: E402
from lma.models.records import training_record  # noqa: E402
from lma.models.shipped import PLANNERS  # noqa: E402
from lma.train.data import Example, save_examples  # noqa: E402
from lma.train.finetune import check_warm_start  # noqa: E402
from lma.train.gguf_export import export_lora_gguf  # noqa: E402
from lma.train.gguf_import import adapter_folder  # noqa: E402
from lma.train.trainer import TrainSettings  # noqa: E402

SHIPPED = "llamacpp:smollm2-135m-babyai"
BASE = "llamacpp:smollm2-135m"
pytestmark = pytest.mark.skipif(not PLANNERS["smollm2-135m-babyai"].path.is_file(), reason="no shipped planner")


def tensors(path) -> dict[str, np.ndarray]:
    return {t.name: np.array(t.data) for t in gguf.GGUFReader(str(path)).tensors}


def test_the_shipped_planner_imported_and_exported_again_is_the_same_adapter(tmp_path):
    """Import then export is the identity on every tensor (the rotary permutation of q/k undone and
    redone exactly), and the imported folder carries the planner's training record."""
    with adapter_folder(SHIPPED) as folder:
        config = json.loads((Path(folder) / "adapter_config.json").read_text())
        record = json.loads((Path(folder) / "lma-finetune.json").read_text())
        again = export_lora_gguf(folder, BASE, tmp_path / "again.gguf")
    shipped = tensors(PLANNERS["smollm2-135m-babyai"].path)
    exported = tensors(again.with_suffix(".gguf"))
    assert shipped.keys() == exported.keys() and len(shipped) > 0
    assert all(np.array_equal(shipped[name], exported[name]) for name in shipped)
    trained = training_record(SHIPPED)
    assert config["r"] == trained["settings"]["lora_rank"] and config["layers_to_transform"] is None
    assert record["history"] == trained["history"] and record["base"] == BASE


def test_a_round_continues_from_the_shipped_planner(tmp_path, capsys):
    """--warm-start SPEC trains the shipped adapter further: at a vanishing learning rate the new
    adapter is the shipped one, not a fresh initialisation (whose lora_B would be zero)."""
    import torch
    from safetensors.torch import load_file

    data = tmp_path / "data.jsonl"
    messages = [{"role": "system", "content": "Pick an action."}, {"role": "user", "content": "a wall ahead"},
                {"role": "assistant", "content": '{"name": "turn_left", "args": {}}'}]
    save_examples([Example(messages, 2, "test#0")], data, training_record(SHIPPED)["history"])
    out = tmp_path / "round"
    assert main(["finetune", "--from", str(data), "--base", BASE, "--out", str(out), "--lora", "--adapter-only",
                 "--batch-size", "1", "--max-steps", "1", "--lr", "1e-12", "--warm-start", SHIPPED]) == 0
    with adapter_folder(SHIPPED) as folder:
        old = load_file(f"{folder}/adapter_model.safetensors")
    new = load_file(out / "adapter_model.safetensors")
    assert old.keys() == new.keys()
    assert all(torch.allclose(old[name], new[name], atol=1e-6) for name in old)
    assert max(float(v.abs().max()) for k, v in new.items() if "lora_B" in k) > 1e-4


def test_a_damaged_or_mismatched_warm_start_is_refused(tmp_path):
    settings = TrainSettings(lora=True, lora_rank=16)
    check_warm_start(SHIPPED, BASE, settings, training_record(SHIPPED)["history"], vision=False)
    with pytest.raises(LmaError, match="give the adapter's own --lora-rank 16"):
        check_warm_start(SHIPPED, BASE, TrainSettings(lora=True, lora_rank=8), 16, vision=False)
    copy = tmp_path / "copy.gguf"
    shutil.copy(PLANNERS["smollm2-135m-babyai"].path, copy)
    shutil.copy(PLANNERS["smollm2-135m-babyai"].path.with_suffix(".json"), copy.with_suffix(".json"))
    with copy.open("r+b") as f:
        f.seek(-7, 2)
        f.write(b"\x00" * 7)
    with pytest.raises(LmaError, match="does not match its recorded checksum"):
        check_warm_start(f"{BASE}?lora={copy}", BASE, settings, 16, vision=False)
