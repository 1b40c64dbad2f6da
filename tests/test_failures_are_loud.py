"""Failures that must not look like results, and the CLI's edges (issue: never fail silently)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def lma(*args: str, cwd=None, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lma.cli", *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=600)


def test_a_dead_model_endpoint_is_refused_before_the_run(tmp_path):
    proc = lma("run", "--agent", "type1", "--env", "babyai/GoToObj-v0", "--model", "openai:http://127.0.0.1:9/v1#x",
               "--out", str(tmp_path))
    assert proc.returncode == 2 and "cannot be reached" in proc.stderr and "Traceback" not in proc.stderr
    assert not any(tmp_path.iterdir())  # no run folder that would read as "0% success"
    proc = lma("eval", "--agents", "type1", "--envs", "babyai/GoToObj-v0", "--model", "openai:http://127.0.0.1:9/v1#x",
               "--out", str(tmp_path))
    assert proc.returncode == 2 and "cannot be reached" in proc.stderr and not any(tmp_path.iterdir())


def test_an_episode_whose_model_stops_answering_is_an_error_and_an_all_error_run_exits_1(tmp_path):
    from lma.agents import make_agent
    from lma.core import Task
    from lma.models.base import ChatModel, ModelError
    from lma.run.runner import run_episode

    class Gone(ChatModel):
        name = "gone"

        def complete(self, messages, **kwargs):
            raise ModelError("http://127.0.0.1:9/v1 cannot be reached")

    result = run_episode(make_agent("type1", model=Gone()), Task("babyai/GoToObj-v0", 0, max_steps=3))
    assert result.error is not None and "cannot be reached" in result.error and not result.success
    assert result.steps == 0

    from lma.cli.output import exit_code

    assert exit_code([result]) == 1 and exit_code([]) == 0

    from lma.report.html import side_by_side
    from lma.report.stats import summarize

    (summary,) = summarize([result], {"type1": "openai:http://127.0.0.1:9/v1#x"})
    assert summary.model_errors == 1 and "model errors" in side_by_side([summary], ["type1"], [result.env])


def test_a_local_model_is_not_free_its_cost_is_its_seconds(tmp_path):
    from lma.agents import make_agent
    from lma.core import Task
    from lma.report.html import cost_text, side_by_side
    from lma.report.stats import summarize
    from lma.run.runner import run_episode

    script = tmp_path / "script.jsonl"
    script.write_text("\n".join(json.dumps({"name": "forward", "args": {}}) for _ in range(3)) + "\n")
    spec = f"scripted:{script}"
    result = run_episode(make_agent("type1", model=spec), Task("babyai/GoToObj-v0", 0, max_steps=3))
    assert result.error is None and result.steps == 3
    (summary,) = summarize([result], {"type1": spec})
    assert cost_text(summary).endswith(" s model time")
    assert "free" not in side_by_side([summary], ["type1"], [result.env])


def test_options_an_agent_does_not_take_and_bad_limits_exit_2(tmp_path):
    for args, words in [
        (["--agent", "random", "--model", "llamacpp:smollm2-135m"], "agent 'random' does not take model"),
        (["--agent", "expert", "--max-steps", "-3"], "max_steps must be at least 1"),
        (["--agent", "expert", "--env", "CartPole-v1"], "needs an env with a scripted oracle"),
    ]:
        if "--env" not in args:
            args = [*args, "--env", "babyai/GoToObj-v0"]
        proc = lma("run", *args, "--out", str(tmp_path))
        assert proc.returncode == 2, (args, proc.stderr)
        lma_lines = [line for line in proc.stderr.splitlines() if line.startswith("lma:")]
        assert words in proc.stderr and len(lma_lines) == 1 and "Traceback" not in proc.stderr, (args, proc.stderr)
    proc = lma("eval", "--agents", "expert", "--envs", "babyai/GoToObj-v0", "--max-steps", "0", "--out", str(tmp_path))
    assert proc.returncode == 2 and "max_steps must be at least 1" in proc.stderr


def test_debug_works_after_the_command_and_perceivers_are_listed(tmp_path):
    proc = lma("run", "--debug", "--agent", "tpye1", "--env", "babyai/GoToObj-v0", "--out", str(tmp_path))
    assert proc.returncode != 0 and "Traceback" in proc.stderr
    proc = lma("run", "--agent", "type1", "--env", "babyai/GoToObj-v0", "--perceiver", "ocrr", "--out", str(tmp_path))
    assert proc.returncode == 2 and "lma list perceivers" in proc.stderr
    listing = lma("list", "perceivers")
    assert listing.returncode == 0 and "caption" in listing.stdout and "som" in listing.stdout


def test_a_typo_in_a_config_key_is_named(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("agents: [expert]\nenvs: [babyai/GoToObj-v0]\nmax_step: 3\n")
    proc = lma("eval", "--config", str(config), "--out", str(tmp_path))
    assert proc.returncode == 2 and "unknown setting 'max_step'; did you mean 'max_steps'?" in proc.stderr


def test_a_plugin_whose_register_function_raises_is_named_and_skipped(tmp_path):
    dist = tmp_path / "site"
    (dist / "broken_plugin").mkdir(parents=True)
    (dist / "broken_plugin" / "__init__.py").write_text("def register():\n    raise AttributeError('oops')\n")
    info = dist / "broken_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[lma.envs]\nbroken = broken_plugin:register\n")
    env = {**__import__("os").environ, "PYTHONPATH": str(dist)}
    proc = lma("list", "envs", env=env)
    assert proc.returncode == 0 and "babyai/GoToObj-v0" in proc.stdout
    assert "skipped plugin broken_plugin:register" in proc.stderr and "'broken'" in proc.stderr


def test_replay_verbose_shows_what_each_tool_returned(tmp_path):
    proc = lma("run", "--agent", "expert", "--env", "webqa/synthetic-v0", "--no-frames", "--out", str(tmp_path / "runs"))
    assert proc.returncode == 0, proc.stderr
    (run,) = (tmp_path / "runs").iterdir()
    row = json.loads((run / "results.jsonl").read_text().splitlines()[0])
    replay = lma("replay", "-v", str(run), row["episode_id"])
    assert replay.returncode == 0 and "      -> " in replay.stdout


def test_an_undecodable_webqa_image_is_marked_unreadable_once_and_the_oracle_moves_on(tmp_path):
    from lma.agents import make_agent
    from lma.core import Task, ToolCall
    from lma.envs.webqa.data import QUESTIONS_FILE, WebQADataset, write_image_tsv
    from lma.envs.webqa.env import WebQAEnv
    from lma.envs.webqa.synthetic import generate
    from lma.run.runner import run_episode

    records, images = generate(seed=0)
    (tmp_path / QUESTIONS_FILE).write_text(json.dumps(records), encoding="utf-8")
    dataset = WebQADataset(tmp_path)
    seed, example = next((i, ex) for i, ex in enumerate(dataset)
                         if any(s.kind == "image" and s.id in ex.positive_ids for s in ex.sources))
    broken = next(s.id for s in example.sources if s.kind == "image" and s.id in example.positive_ids)
    write_image_tsv(tmp_path, [(i, b"\x89PNG but not really" if str(i) == broken else png) for i, png in images])

    env = WebQAEnv(data=str(tmp_path))
    env.reset(seed=seed)
    obs, _, _, _, info = env.step(ToolCall("read", {"source_id": broken}))
    assert "imgs.tsv" in info["error"]  # an error once, on the step that found it
    assert "unreadable" in obs["text"] and "imgs.tsv" in obs["text"] and obs["image"] is None
    assert obs["data"]["unreadable"] == [broken] and broken not in obs["data"]["read"]
    again, _, _, _, info = env.step(ToolCall("read", {"source_id": broken}))
    assert "unreadable" in again["text"] and "error" not in info  # known now: not decoded nor failed again
    assert env.expert_action() != ToolCall("read", {"source_id": broken})  # the oracle does not retry it
    env.close()

    result = run_episode(make_agent("expert"), Task("webqa/synthetic-v0", seed, max_steps=64,
                                                    env_kwargs={"data": str(tmp_path)}))
    assert result.error is None and result.steps <= len(example.positive_ids) + 1
    assert result.metrics["answered"] is True



def test_ctrl_c_prints_the_run_folder_and_the_resume_command(tmp_path):
    import os
    import signal
    import time

    out = tmp_path / "runs"
    proc = subprocess.Popen([sys.executable, "-m", "lma.cli", "run", "--agent", "expert", "--env", "babyai/GoToObj-v0",
                             "--episodes", "2000", "--no-frames", "--out", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 120
    while not any(out.glob("*/results.jsonl")) or not next(out.glob("*/results.jsonl")).read_text():
        assert proc.poll() is None and time.monotonic() < deadline, "the run ended or never started"
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a shell does
    assert proc.wait(60) == 130
    (run,) = out.iterdir()
    stderr = proc.stderr.read()
    assert f"saved in {run}" in stderr and f"lma run --resume {run}" in stderr and "Traceback" not in stderr


def test_a_raw_langchain_base_tool_placed_in_an_env_works():
    pytest.importorskip("langchain_core")
    from langchain_core.tools import BaseTool
    from pydantic import BaseModel

    from lma.agents import make_agent
    from lma.core import Task, ToolCall
    from lma.envs.base import ToolEnv
    from lma.run.runner import run_episode

    class Shout(BaseModel):
        word: str

    class ShoutTool(BaseTool):  # a LangChain tool subclassed the documented way, not through @tool
        name: str = "shout"
        description: str = "Say a word loudly."
        args_schema: type[BaseModel] = Shout

        def _run(self, word: str) -> str:
            return word.upper() + "!"

    class ShoutEnv(ToolEnv):
        """Ends once the env has heard a shout; the tool is the LangChain object itself."""

        def __init__(self):
            super().__init__()
            self.tools = [ShoutTool()]

        def _reset(self, seed):
            return {"text": "Goal: shout a word.", "image": None, "data": {}}, {}

        def _act(self, call):
            said = self.tool(call.name)(**call.args)
            return {"text": said.output, "image": None, "data": {}}, 1.0, True, False, {"success": said.ok,
                                                                                        "result": said.output}

    env = ShoutEnv()
    env.reset(seed=0)
    obs, _, terminated, _, info = env.step(ToolCall("shout", {"word": "hello"}))
    assert obs["text"] == "HELLO!" and terminated and info["success"] is True
    assert "word" in env.step(ToolCall("shout", {}))[4]["error"]  # validated against the tool's own schema
    result = run_episode(make_agent("random"), Task("shout-v0", 0, max_steps=3), env=ShoutEnv())
    assert result.error is None and result.success is True and result.steps == 1
