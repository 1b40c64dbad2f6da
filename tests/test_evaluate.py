"""``lma eval`` as a user runs it: real worker processes, real kills, real Ray, real model server."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
import yaml
from conftest import free_port

from lma.run.recording import RunDir, read_jsonl

TESTS = Path(__file__).resolve().parent


def lma_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def lma(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lma.cli", *args], capture_output=True, text=True, env=lma_env(),
                          timeout=timeout)


def only_run(out: Path) -> Path:
    (run,) = [p for p in out.iterdir() if p.is_dir()]
    return run


def result_rows(run: Path) -> list[dict]:
    return read_jsonl(run / "results.jsonl")


def test_eval_survives_crashed_and_hung_episodes(tmp_path):
    # The expert solves faulty-ok; crash-v0 kills its worker; faulty-hang-v0 hangs until the worker is killed.
    proc = lma("eval", "--agents", "expert", "--envs", "test/faulty-ok-v0,test/crash-v0,test/faulty-hang-v0",
               "--episodes", "2", "--seed", "3", "--workers", "2", "--episode-timeout", "1.5", "--step-timeout", "60",
               "--import", "eval_envs", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    run = only_run(tmp_path)
    rows = {(r["env"], r["seed"]): r for r in result_rows(run)}
    assert len(rows) == 6 and {s for _, s in rows} == {3, 4}
    for seed in (3, 4):
        assert rows[("test/faulty-ok-v0", seed)]["success"] and rows[("test/faulty-ok-v0", seed)]["error"] is None
        assert "worker process died (signal 9)" in rows[("test/crash-v0", seed)]["error"]
        hung = rows[("test/faulty-hang-v0", seed)]
        assert "time limit" in hung["error"] and not hung["success"]
    assert "6 episodes in" in proc.stdout and "expert" in proc.stdout


def test_same_seeds_for_every_agent_and_the_config_records_them(tmp_path):
    proc = lma("eval", "--agents", "expert,random", "--envs", "babyai/GoToObj-v0", "--episodes", "3", "--seed", "7",
               "--workers", "2", "--max-steps", "8", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    run = only_run(tmp_path)
    rows = result_rows(run)
    seeds = {a: sorted(r["seed"] for r in rows if r["agent"] == a) for a in ("expert", "random")}
    assert seeds == {"expert": [7, 8, 9], "random": [7, 8, 9]}
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["seeds"] == [7, 8, 9] and [a["label"] for a in config["agents"]] == ["expert", "random"]
    assert all(len(list((run / "episodes" / r["episode_id"]).glob("frame-*.png"))) == r["steps"] for r in rows)
    # A resume may change how the run executes, not what it runs.
    assert lma("eval", "--resume", str(run), "--workers", "1").returncode == 0
    differ = lma("eval", "--resume", str(run), "--episodes", "5")
    assert differ.returncode == 2 and "differs in seeds" in differ.stderr and "Traceback" not in differ.stderr
    differ = lma("eval", "--resume", str(run), "--agents", "expert")
    assert differ.returncode == 2 and "agents" in differ.stderr
    assert len(result_rows(run)) == 6


def _start(out: Path, *extra: str) -> subprocess.Popen:
    args = ["eval", "--agents", "expert,random", "--envs", "test/slow-v0", "--episodes", "12", "--workers", "2",
            "--max-steps", "4", "--import", "eval_envs", "--no-frames", *extra]
    return subprocess.Popen([sys.executable, "-m", "lma.cli", *args, "--out", str(out)], env=lma_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def _wait_for_rows(path: Path, count: int, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while len(read_jsonl(path)) < count:
        assert proc.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < deadline, "the run made no progress"
        time.sleep(0.05)


def _group_alive(pgid: int) -> list[int]:
    """Live (not zombie) processes of a process group."""
    alive = []
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if stat[0] != "Z" and int(stat[2]) == pgid:
            alive.append(int(entry.name))
    return alive


def test_kill_9_then_resume_runs_every_episode_exactly_once(tmp_path):
    proc = _start(tmp_path)
    while not list(tmp_path.glob("*/results.jsonl")):
        assert proc.poll() is None
        time.sleep(0.05)
    results = next(tmp_path.glob("*/results.jsonl"))
    run = results.parent
    _wait_for_rows(results, 5, proc)
    os.killpg(proc.pid, signal.SIGKILL)  # the whole group: parent and workers, mid-episode
    proc.wait()
    before = results.read_text().splitlines()
    assert 5 <= len(before) < 24

    # Resume, then kill -9 only the parent: its workers must notice and exit by themselves.
    resumed = subprocess.Popen([sys.executable, "-m", "lma.cli", "eval", "--resume", str(run)], env=lma_env(),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    _wait_for_rows(results, len(before) + 3, resumed)
    resumed.kill()
    resumed.wait()
    deadline = time.monotonic() + 10
    while _group_alive(resumed.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _group_alive(resumed.pid), "workers outlived their killed parent"

    # Ctrl-C (SIGINT to the whole group): the run stops cleanly, saying its finished episodes are saved.
    interrupted = subprocess.Popen([sys.executable, "-m", "lma.cli", "eval", "--resume", str(run)], env=lma_env(),
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    _wait_for_rows(results, len(read_jsonl(results)) + 2, interrupted)
    os.killpg(interrupted.pid, signal.SIGINT)
    assert interrupted.wait(30) == 130 and "finished episodes are saved" in interrupted.stderr.read()
    time.sleep(0.5)
    assert not _group_alive(interrupted.pid)

    final = lma("eval", "--resume", str(run))
    assert final.returncode == 0, final.stderr
    lines = results.read_text().splitlines()
    assert lines[: len(before)] == before  # finished episodes were never rerun or rewritten
    ids = [json.loads(line)["episode_id"] for line in lines]
    assert len(ids) == len(set(ids)) == 24
    assert {r.agent for r in RunDir(run).results()} == {"expert", "random"}


def test_bad_input_exits_2_with_one_line_and_no_run(tmp_path):
    out = tmp_path / "runs"
    malformed = tmp_path / "bad.yaml"
    malformed.write_text("agents: [type1, expert\nenvs: x\n")
    unknown_key = tmp_path / "key.yaml"
    unknown_key.write_text("agents: [expert]\nenvs: [babyai/GoToObj-v0]\nepisods: 3\n")
    wrong_type = tmp_path / "type.yaml"
    wrong_type.write_text("agents: expert\nenvs: [babyai/GoToObj-v0]\n")
    not_eval = tmp_path / "not-eval"
    RunDir.create(tmp_path, "not-eval", {"command": "run", "agent": {"name": "expert"}})
    cases = [
        (["--agents", "tpye1", "--envs", "babyai/GoToObj-v0"], "did you mean type1"),
        (["--agents", "expert", "--envs", "babyai/GoToObjj-v0"], "babyai/GoToObj-v0"),
        (["--config", str(malformed)], "is not valid YAML (line"),
        (["--config", str(unknown_key)], "unknown setting 'episods'"),
        (["--config", str(wrong_type)], "setting 'agents' must be list"),
        (["--config", str(tmp_path / "missing.yaml")], "config file not found"),
        (["--agents", "type1", "--envs", "babyai/GoToObj-v0", "--model", "warp:x"], "unknown model 'warp'"),
        (["--agents", "expert", "--envs", "babyai/GoToObj-v0", "--env-arg", "nope=1"], "does not take nope"),
        (["--agents", "expert", "--envs", "babyai/GoToObj-v0", "--backend", "ray", "--ray-address",
          f"127.0.0.1:{free_port()}"], "no Ray cluster at"),
        (["--resume", str(tmp_path / "nowhere")], "not an lma run folder"),
        (["--resume", str(not_eval)], "cannot be resumed"),
    ]
    for args, words in cases:
        proc = lma("eval", *args, "--out", str(out))
        assert proc.returncode == 2, (args, proc.stderr)
        assert words in proc.stderr and "Traceback" not in proc.stderr, (args, proc.stderr)
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert not out.exists()


def test_jobs_of_agents_sharing_a_local_model_point_at_its_server():
    from lma.run.evaluate import make_jobs, resolve

    config = resolve({"agents": ["type1", {"name": "type1", "label": "again"}, "expert"], "envs": ["babyai/GoToObj-v0"],
                      "episodes": 2})
    server = SimpleNamespace(model_spec="openai:http://127.0.0.1:9/v1#m?images=0")
    jobs = make_jobs(config, {"llamacpp:smollm2-135m": server})
    assert len(jobs) == 6 and [j.seed for j in jobs] == [0, 0, 0, 1, 1, 1]
    assert {j.options.get("model") for j in jobs if j.agent == "type1"} == {server.model_spec}
    assert all("model" not in j.options for j in jobs if j.agent == "expert")


@pytest.mark.slow
def test_shared_model_server_answers_like_the_model_in_process(tmp_path):
    from lma.agents import make_agent
    from lma.core import Task
    from lma.run.model_server import SharedModel
    from lma.run.runner import run_episode

    shared = SharedModel("llamacpp:smollm2-135m")
    try:
        task = Task("babyai/GoToObj-v0", 0, max_steps=2)
        served = run_episode(make_agent("type1", model=shared.model_spec), task)
        local = run_episode(make_agent("type1"), Task("babyai/GoToObj-v0", 0, max_steps=2))
        assert served.error is None and served.tokens_in == local.tokens_in > 0
        assert served.tokens_out == local.tokens_out
        bad = httpx.post(f"http://127.0.0.1:{shared.port}/v1/chat/completions", json={"nope": 1}, timeout=30)
        assert bad.status_code == 400 and "messages" in bad.json()["error"]["message"]
    finally:
        shared.close()
    assert not shared.process.is_alive()


def _in_private_netns() -> bool:
    return [name for _, name in socket.if_nameindex()] == ["lo"]


@pytest.mark.skipif(not _in_private_netns(), reason="Ray runs only inside scripts/netns-run (loopback only)")
def test_ray_backend_runs_the_same_jobs(tmp_path):
    proc = lma("eval", "--backend", "ray", "--agents", "expert,random", "--envs", "babyai/GoToObj-v0,test/crash-v0",
               "--episodes", "2", "--workers", "2", "--max-steps", "6", "--import", "eval_envs", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    run = only_run(tmp_path)
    rows = {(r["agent"], r["env"], r["seed"]): r for r in result_rows(run)}
    assert len(rows) == 8
    for agent in ("expert", "random"):
        for seed in (0, 1):
            ok = rows[(agent, "babyai/GoToObj-v0", seed)]
            assert ok["error"] is None and ok["steps"] > 0
            frames = list((run / "episodes" / ok["episode_id"]).glob("frame-*.png"))
            assert len(frames) == ok["steps"]  # recorded on the Ray worker, shipped back to the run folder
            assert "ray task failed" in rows[(agent, "test/crash-v0", seed)]["error"]
    assert rows[("expert", "babyai/GoToObj-v0", 0)]["success"]
    assert not (run / "ray").exists()
