"""The command line as a user meets it: real subprocesses, exit codes, files on disk."""

from __future__ import annotations

import json
import subprocess
import sys

import yaml


def lma(*args: str, cwd=None, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lma.cli", *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=600)


def test_list_shows_all_five_kinds():
    out = lma("list").stdout
    for heading in ("agents:", "envs:", "tools:", "memories:", "models:"):
        assert heading in out
    for name in ("type1", "type4", "expert", "random", "babyai/GoToRedBall-v0", "llamacpp", "scripted"):
        assert name in out
    assert "Type IV" in lma("list", "agents").stdout


def test_run_writes_the_run_folder(tmp_path):
    proc = lma("run", "--agent", "expert", "--env", "babyai/GoToObj-v0", "--episodes", "2", "--seed", "4",
               "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert "run saved in" in proc.stdout and "success 2/2" in proc.stdout
    (run,) = tmp_path.iterdir()
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["seeds"] == [4, 5] and config["envs"] == ["babyai/GoToObj-v0"]
    assert config["command"] == "run" and [a["name"] for a in config["agents"]] == ["expert"]
    rows = [json.loads(line) for line in (run / "results.jsonl").read_text().splitlines()]
    assert [r["seed"] for r in rows] == [4, 5]
    for key in ("env", "agent", "seed", "success", "return", "steps", "tokens_in", "tokens_out", "seconds", "error"):
        assert key in rows[0]
    episode = run / "episodes" / rows[0]["episode_id"]
    steps = [json.loads(line) for line in (episode / "trajectory.jsonl").read_text().splitlines()]
    assert len(steps) == rows[0]["steps"] and (episode / steps[0]["frame"]).is_file()
    replay = lma("replay", str(run), rows[0]["episode_id"])
    assert replay.returncode == 0 and steps[0]["call"]["name"] in replay.stdout


def test_unknown_names_exit_2_with_suggestions(tmp_path):
    proc = lma("run", "--agent", "tpye1", "--env", "babyai/GoToRedBall-v0", "--out", str(tmp_path))
    assert proc.returncode == 2 and "type1" in proc.stderr and "Traceback" not in proc.stderr
    proc = lma("run", "--agent", "expert", "--env", "babyai/GoToRedBal-v0", "--out", str(tmp_path))
    assert proc.returncode == 2 and "babyai/GoToRedBall-v0" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_bad_model_specs_exit_2(tmp_path):
    for spec, words in [("nocolon", "malformed model spec"), ("llamacpp:/nope/model.gguf", "no GGUF model file"),
                        ("warp:thing", "unknown model 'warp'"), ("scripted:/nope.jsonl", "not found")]:
        proc = lma("run", "--agent", "type1", "--env", "babyai/GoToRedBall-v0", "--model", spec, "--out", str(tmp_path))
        assert proc.returncode == 2, (spec, proc.stderr)
        assert words in proc.stderr and "Traceback" not in proc.stderr


def test_not_a_run_folder_exits_2(tmp_path):
    proc = lma("replay", str(tmp_path), "x")
    assert proc.returncode == 2 and "not an lma run folder" in proc.stderr


def test_env_args_reach_the_env_and_bad_ones_exit_2(tmp_path):
    proc = lma("run", "--agent", "expert", "--env", "babyai/GoToObj-v0", "--env-arg", "max_steps=3", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    (run,) = tmp_path.iterdir()
    assert yaml.safe_load((run / "config.yaml").read_text())["env_args"] == {"babyai/GoToObj-v0": {"max_steps": 3}}
    row = json.loads((run / "results.jsonl").read_text())
    assert row["steps"] <= 3  # the level's own limit of 3 steps applied
    for bad, words in [("max_steps", "expected KEY=VALUE"), ("nope=1", "does not take nope")]:
        proc = lma("run", "--agent", "expert", "--env", "babyai/GoToObj-v0", "--env-arg", bad, "--out", str(tmp_path))
        assert proc.returncode == 2 and words in proc.stderr, proc.stderr


def test_lma_run_resumes_like_lma_eval(tmp_path):
    proc = lma("run", "--agent", "expert", "--env", "babyai/GoToObj-v0", "--episodes", "3", "--no-frames",
               "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    (run,) = tmp_path.iterdir()
    lines = (run / "results.jsonl").read_text().splitlines()
    (run / "results.jsonl").write_text(lines[0] + "\n")  # as if killed after the first episode
    resumed = lma("run", "--resume", str(run))
    assert resumed.returncode == 0 and "success 3/3" in resumed.stdout, resumed.stderr
    rows = [json.loads(line) for line in (run / "results.jsonl").read_text().splitlines()]
    assert sorted(r["seed"] for r in rows) == [0, 1, 2]  # each episode once
