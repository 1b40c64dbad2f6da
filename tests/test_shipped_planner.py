"""Shipped planners (lma/models/shipped.py): how type2 finds one, and how a bad copy is refused.

The refusal tests make adapter files of their own in a temporary folder (the checksums are real
ones against the real embedded base); the last tests check the adapter that ships in
lma/models/planners/ against its manifest and against the recipe that rebuilds it.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from lma.errors import LmaError
from lma.models.adapters import write_manifest
from lma.models.base import ModelError
from lma.models.shipped import PLANNERS, named_models, planner_for, resolve_gguf, shipped_planner

PLANNER = PLANNERS["smollm2-135m-babyai"]


@pytest.fixture
def planner_dir(tmp_path):
    """A planner folder holding an adapter file and its manifest against the embedded base."""
    adapter = tmp_path / PLANNER.adapter
    adapter.write_bytes(b"a LoRA adapter's bytes")
    write_manifest(adapter, resolve_gguf(PLANNER.base), {"training": {"prompt_layout": 2}})
    return tmp_path


def test_a_complete_copy_gives_its_base_and_adapter(planner_dir):
    base, adapter = shipped_planner(PLANNER.name, planner_dir)
    assert base == resolve_gguf("smollm2-135m") and adapter == planner_dir / PLANNER.adapter


def test_a_missing_file_or_manifest_is_named_with_the_rebuild_command(planner_dir):
    (planner_dir / PLANNER.adapter).with_suffix(".json").unlink()
    with pytest.raises(ModelError, match="has no manifest"):
        shipped_planner(PLANNER.name, planner_dir)
    (planner_dir / PLANNER.adapter).unlink()
    with pytest.raises(ModelError, match=f"missing: no file {re.escape(str(planner_dir))}.*babyai-planner.sh"):
        shipped_planner(PLANNER.name, planner_dir)


def test_a_corrupt_copy_or_an_adapter_for_another_base_is_refused(planner_dir):
    adapter = planner_dir / PLANNER.adapter
    adapter.write_bytes(b"a LoRA adapter's bytez")
    with pytest.raises(ModelError, match="does not match its recorded checksum"):
        shipped_planner(PLANNER.name, planner_dir)
    adapter.write_bytes(b"a LoRA adapter's bytes")
    manifest = adapter.with_suffix(".json")
    manifest.write_text(json.dumps({**json.loads(manifest.read_text()), "base_sha256": "0" * 64}))
    with pytest.raises(ModelError, match="trained on another base model"):
        shipped_planner(PLANNER.name, planner_dir)


def test_type2_takes_the_planner_made_for_the_runs_envs():
    from lma.run.evaluate import resolve

    config = resolve({"agents": ["type2"], "envs": ["babyai/balrog-goto-v0", "babyai/balrog-open-v0"]})
    assert config["agents"][0]["options"]["model"] == "llamacpp:smollm2-135m-babyai"
    assert planner_for(["babyai/balrog-goto-v0", "web/login-v0"]) is None
    with pytest.raises(LmaError, match="lma ships llamacpp:smollm2-135m-babyai"):
        resolve({"agents": ["type2"], "envs": ["babyai/GoToObj-v0"]})
    explicit = resolve({"agents": [{"name": "type2", "model": "llamacpp:smollm2-135m"}], "envs": ["babyai/balrog-goto-v0"]})
    assert explicit["agents"][0]["options"]["model"] == "llamacpp:smollm2-135m"


def test_lma_list_models_names_the_models_that_come_with_lma():
    listed = subprocess.run([sys.executable, "-m", "lma.cli", "list", "models"], capture_output=True, text=True,
                            timeout=120, check=True).stdout
    for spec, about in named_models().items():
        assert spec in listed and about in listed
    if not PLANNER.path.is_file():
        assert "not built yet: bash docs/examples/babyai-planner.sh" in listed


@pytest.mark.skipif(PLANNER.path.is_file(), reason="the planner is shipped")
def test_type2_without_the_planner_file_says_how_to_build_it(tmp_path):
    done = subprocess.run([sys.executable, "-m", "lma.cli", "run", "--agent", "type2", "--env", "babyai/balrog-goto-v0",
                           "--episodes", "1", "--out", str(tmp_path / "runs")],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and str(PLANNER.path) in done.stderr
    assert "bash docs/examples/babyai-planner.sh" in done.stderr


def recipe_flags() -> dict[str, str]:
    """The training flags of the recipe that rebuilds the shipped planner (its last `lma finetune ... --lora`
    line: a recipe of several rounds ships the last one)."""
    from pathlib import Path

    recipe = Path(__file__).parents[1] / PLANNER.rebuild.split()[-1]
    lines = recipe.read_text().replace("\\\n", " ").splitlines()  # backslash continuations joined
    line = [line for line in lines if "lma finetune" in line and "--lora" in line][-1]
    words = line.split()
    return {w: words[i + 1] for i, w in enumerate(words[:-1]) if w.startswith("--") and not words[i + 1].startswith("--")}


def test_the_shipped_planner_matches_its_checksum_and_its_recipe():
    from lma.planning.prompt import DEFAULT_HISTORY, LAYOUT

    base, adapter = shipped_planner(PLANNER.name)  # raises unless both checksums match
    assert adapter == PLANNER.path and adapter.stat().st_size < 20 * 2**20
    training = json.loads(adapter.with_suffix(".json").read_text())["training"]
    assert training["prompt_layout"] == LAYOUT and training["history"] == DEFAULT_HISTORY
    assert training["base"] == "llamacpp:smollm2-135m" and training["settings"]["lora"]
    flags, settings = recipe_flags(), training["settings"]
    assert settings["batch_size"] == int(flags["--batch-size"]) and settings["epochs"] == float(flags["--epochs"])
    assert settings["lr"] == float(flags["--lr"]) and settings["max_length"] == int(flags["--max-length"])
    assert settings.get("lora_layers") == (int(flags["--lora-layers"]) if "--lora-layers" in flags else None)


def test_the_shipped_planner_plays_with_a_valid_call():
    import lma
    from lma.models import load_model
    from lma.planning.planner import Planner
    from lma.planning.prompt import plan_input

    env = lma.make("babyai/balrog-goto-v0")
    obs, _ = env.reset(seed=0)
    plan = Planner(load_model(f"llamacpp:{PLANNER.name}?n_threads=1")).plan(plan_input(obs["text"], env.unwrapped.tools, []))
    env.close()
    assert plan.error is None and plan.call is not None
    assert plan.call.name in {tool.name for tool in env.unwrapped.tools}
