"""A planner is asked the prompt it was trained on: its history and prompt layout follow its weights."""

import json
import subprocess
import sys

import pytest

from lma.models.base import ModelError
from lma.models.records import INFO_FILE, training_record
from lma.planning.prompt import DEFAULT_HISTORY, LAYOUT, planner_history


def trained_folder(tmp_path, **record):
    """A tiny random transformers planner with lma finetune's record beside its weights."""
    from lma.models.tiny import tiny_llama

    folder = tiny_llama(tmp_path / "planner")
    (folder / INFO_FILE).write_text(json.dumps({"prompt_layout": LAYOUT, **record}))
    return folder


def test_the_record_is_read_from_a_folder_a_lora_manifest_and_a_shipped_planner(tmp_path):
    folder = tmp_path / "merged"
    folder.mkdir()
    (folder / INFO_FILE).write_text(json.dumps({"history": 4, "prompt_layout": LAYOUT}))
    assert training_record(f"transformers:{folder}")["history"] == 4
    adapter = tmp_path / "planner.gguf"
    adapter.with_suffix(".json").write_text(json.dumps({"sha256": "-", "training": {"history": 8}}))
    assert training_record(f"llamacpp:smollm2-135m?lora={adapter}")["history"] == 8
    assert training_record("llamacpp:smollm2-135m-babyai")["history"] == DEFAULT_HISTORY
    assert training_record("llamacpp:smollm2-135m") == {}
    assert training_record("openai:http://127.0.0.1:9/v1#llamacpp_x") == {}
    (folder / INFO_FILE).write_text("{torn")
    assert training_record(f"transformers:{folder}") == {}  # loading the model is where that is reported


def test_the_agent_shows_the_planner_as_many_steps_as_it_was_trained_with(tmp_path):
    from lma.agents import make_agent

    folder = trained_folder(tmp_path, history=4)
    assert make_agent("type2", model=f"transformers:{folder}").history_size == 4
    assert make_agent("type2", model=f"transformers:{folder}", history=6).history_size == 6  # asked for
    assert make_agent("type1", model="llamacpp:smollm2-135m").config()["history"] == DEFAULT_HISTORY


def test_an_evaluation_spells_the_trained_history_out_for_its_workers(tmp_path):
    """Workers reach a shared model through a server whose spec names no record: the config does."""
    from lma.run.evaluate import resolve

    folder = trained_folder(tmp_path, history=4)
    config = resolve({"agents": ["type2", {"name": "dagger", "label": "d"}, "random"], "envs": ["babyai/GoToObj-v0"],
                      "model": f"transformers:{folder}", "episodes": 1})
    options = {a["label"]: a["options"] for a in config["agents"]}
    assert options["type2"]["history"] == 4 and options["d"]["history"] == 4 and "history" not in options["random"]
    shipped = resolve({"agents": ["type2"], "envs": ["babyai/balrog-goto-v0"], "episodes": 1})
    assert "history" not in shipped["agents"][0]["options"]  # the default: configs of earlier runs still resume


def test_a_planner_trained_on_another_prompt_layout_is_refused_in_one_line(tmp_path):
    folder = trained_folder(tmp_path, history=16, prompt_layout=LAYOUT - 1)
    with pytest.raises(ModelError, match=f"trained on prompt layout {LAYOUT - 1}"):
        planner_history(f"transformers:{folder}")
    proc = subprocess.run([sys.executable, "-m", "lma.cli", "run", "--agent", "type2", "--env", "babyai/GoToObj-v0",
                           "--model", f"transformers:{folder}", "--out", str(tmp_path / "runs")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr
    assert f"trained on prompt layout {LAYOUT - 1}" in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
