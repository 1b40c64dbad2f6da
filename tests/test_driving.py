"""Driving on real highway-env: the scene text agrees with the simulator, tools map by name, frames
are drawn, the expert driver crashes rarely and beats idling, failures are recorded, seeds repeat."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import lma
from lma.agents.base import Agent
from lma.agents.baselines import ExpertDriver
from lma.core import Task, ToolCall
from lma.envs.driving.env import META_ACTIONS
from lma.run.runner import run_episode

pytest.importorskip("highway_env")

SCENARIOS = ["highway-fast-v0", "merge-v1", "roundabout-v1", "intersection-v1"]
FAST = {"render": False}  # the policy tests need no frames


class Idle(Agent):
    """The idle-only baseline: keeps lane and set-point whatever happens (scripted)."""

    name = "idle"

    def act(self, obs):
        return ToolCall("idle")


def non_blank(frame: np.ndarray) -> bool:
    return frame.std() > 5 and len(np.unique(frame.reshape(-1, 3), axis=0)) >= 4


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_observation_has_scene_text_frame_and_named_tools(scenario):
    env = lma.make(f"driving/{scenario}")
    obs, _ = env.reset(seed=1)
    text, image, data = obs["text"], obs["image"], obs["data"]
    assert text.startswith("Goal: ") and "Ego: lane " in text and "Neighbours" in text
    assert isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim == 3 and non_blank(image)
    u = env.unwrapped
    names = [t.name for t in u.tools]
    assert "idle" in names and set(names) <= set(META_ACTIONS) and data["available"] == names
    labels = u.road_env.action_type.actions
    for name, index in u._index.items():  # mapped by name onto this scenario's own indices
        assert labels[index] == META_ACTIONS[name][0]
    if scenario == "intersection-v1":
        assert not {"lane_left", "lane_right"} & set(u._index)
    assert data["scene"]["neighbours"], "every scenario starts with traffic in sight"
    obs2, *_ = env.step(ToolCall("idle"))
    assert obs2["data"]["time"] == pytest.approx(1.0) and non_blank(obs2["image"])
    env.close()


def test_scene_positions_lanes_and_ttc_agree_with_the_simulator():
    env = lma.make("driving/highway-fast-v0", **FAST)
    env.reset(seed=5)  # a seed with a slower leader ahead and cars in the other lanes
    u = env.unwrapped
    ego = u.road_env.vehicle
    by_id = {}
    for vehicle in u.road_env.road.vehicles:
        if vehicle is not ego and id(vehicle) in u._ids:
            by_id[u._ids[id(vehicle)]] = vehicle
    leaders = sides = 0
    for n in u._scene["neighbours"]:
        other = by_id[n["id"]]
        assert n["ahead"] == pytest.approx(other.position[0] - ego.position[0], abs=0.05)  # the road runs along x
        assert n["right"] == pytest.approx(other.position[1] - ego.position[1], abs=0.05)  # lanes grow to the right
        assert n["lane_offset"] == other.lane_index[2] - ego.lane_index[2]
        gap = n["ahead"] - ego.LENGTH - 1.5  # bumper gap less the prediction margin
        if n["lane_offset"] == 0 and n["ahead"] > 0 and ego.speed - other.speed > 0.5 and gap / (ego.speed - other.speed) < 9:
            # A leader: it is predicted both at constant speed and braking to half its speed, so the
            # paths meet between the two closed forms (up to one 0.25 s sample).
            latest = gap / (ego.speed - other.speed)
            earliest = gap / (ego.speed - other.speed / 2)
            assert earliest - 0.3 <= n["ttc"] <= latest + 0.3
            leaders += 1
        keeping_lanes = other.target_lane_index == other.lane_index and ego.target_lane_index == ego.lane_index
        if n["lane_offset"] != 0 and keeping_lanes:
            assert n["ttc"] is None  # side by side in other lanes is no collision course
            sides += 1
    assert leaders == 1 and sides >= 2
    env.close()


def test_meta_actions_act_on_the_ego():
    env = lma.make("driving/highway-fast-v0", **FAST)
    obs, _ = env.reset(seed=0)
    before = obs["data"]["scene"]["ego"]
    obs, *_ = env.step(ToolCall("faster" if "faster" in obs["data"]["available"] else "slower"))
    assert obs["data"]["scene"]["ego"]["target_speed"] != before["target_speed"]
    side = "lane_left" if "lane_left" in obs["data"]["available"] else "lane_right"
    for _ in range(3):
        obs, *_ = env.step(ToolCall(side))
    metrics = env.unwrapped.episode_metrics()
    assert metrics["lane_changes"] >= 1 and obs["data"]["scene"]["ego"]["lane"] != before["lane"]
    assert metrics["steps"] == 4 and metrics["seconds"] == pytest.approx(4.0)
    assert metrics["mean_speed"] == pytest.approx(metrics["distance_m"] / metrics["seconds"], rel=1e-3)
    assert 60 < metrics["distance_m"] < 4 * 32  # 20-30 m/s for 4 s
    result = env.step(ToolCall("fly"))  # an unknown tool changes nothing
    assert "unknown tool 'fly'" in result[4]["error"] and env.unwrapped.episode_metrics()["steps"] == 4
    env.close()


def test_expert_driver_crashes_rarely_and_beats_idling():
    seeds = range(5)
    expert, idle = {}, {}
    for scenario in SCENARIOS:
        kwargs = {**FAST, "config": {"duration": 15}} if scenario == "highway-fast-v0" else FAST
        for agent, out in ((ExpertDriver(), expert), (Idle(), idle)):
            out[scenario] = [run_episode(agent, Task(f"driving/{scenario}", s, env_kwargs=kwargs)) for s in seeds]
    for scenario, results in expert.items():
        assert [r.error for r in results] == [None] * 5
        crashes = sum(r.metrics["crashed"] for r in results)
        assert crashes <= 1, (scenario, crashes)
        assert all(r.success == (not r.metrics["crashed"]) for r in results)  # success: no crash by the end
    expert_crashes = sum(r.metrics["crashed"] for rs in expert.values() for r in rs)
    idle_crashes = sum(r.metrics["crashed"] for rs in idle.values() for r in rs)
    assert expert_crashes < idle_crashes, (expert_crashes, idle_crashes)
    assert sum(r.metrics["mean_speed"] for r in expert["highway-fast-v0"]) / 5 > 18


def test_simulator_exception_is_a_recorded_failed_step_and_the_next_episode_runs():
    class Saboteur(Agent):
        """Breaks the simulator's state on the second step (highway-env then raises in step)."""

        name = "saboteur"

        def act(self, obs):
            if obs["data"]["time"] >= 1:
                self.env.unwrapped.road_env.road = None
            return ToolCall("idle")

    broken = run_episode(Saboteur(), Task("driving/merge-v1", 0, env_kwargs=FAST))
    assert broken.error is None and not broken.success and broken.steps == 2
    assert broken.metrics["simulator_error"].startswith("simulator error: NotImplementedError")
    fine = run_episode(ExpertDriver(), Task("driving/merge-v1", 1, env_kwargs=FAST))
    assert fine.error is None and fine.steps > 5


def test_same_seed_same_episode_even_after_an_intersection():
    def episode():
        return run_episode(ExpertDriver(), Task("driving/highway-fast-v0", 9, env_kwargs=FAST))

    first = episode()
    run_episode(Idle(), Task("driving/intersection-v1", 0, env_kwargs=FAST, max_steps=3))
    second = episode()  # highway-env's intersection retunes IDMVehicle for the whole process
    assert first.metrics == second.metrics and first.return_ == second.return_


def test_parking_has_one_bounded_continuous_tool():
    env = lma.make("driving/parking-v0")
    obs, _ = env.reset(seed=2)
    assert "Goal spot:" in obs["text"] and non_blank(obs["image"])
    (drive,) = env.unwrapped.tools
    assert drive.name == "drive" and drive.parameters["properties"]["steering"]["maximum"] == pytest.approx(45)
    _, _, _, _, info = env.step(ToolCall("drive", {"acceleration": 9.0, "steering": 0.0}))
    assert "greater than the maximum" in info["error"]
    for _ in range(5):
        obs, *_ = env.step(ToolCall("drive", {"acceleration": 4.0, "steering": 0.0}))
    assert obs["data"]["speed"] > 3.0
    heading = obs["data"]["heading_deg"]
    for _ in range(3):
        obs, *_ = env.step(ToolCall("drive", {"acceleration": 0.0, "steering": 40.0}))
    turned = (obs["data"]["heading_deg"] - heading + 180) % 360 - 180
    assert turned > 5  # positive steering turns right, as the tool says
    metrics = env.unwrapped.episode_metrics()
    assert metrics["steps"] == 8 and metrics["goal_distance"] == obs["data"]["distance"]
    env.close()


def test_expert_driver_refuses_parking_clearly():
    result = run_episode(ExpertDriver(), Task("driving/parking-v0", 0, env_kwargs=FAST))
    assert "expert-driver drives the meta-action" in result.error


def test_dummy_video_driver_is_replaced(monkeypatch):
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    env = lma.make("driving/roundabout-v1")
    obs, _ = env.reset(seed=0)
    assert os.environ["SDL_VIDEODRIVER"] == "offscreen" and non_blank(obs["image"])
    env.close()


def test_embedded_model_drives_with_valid_tool_calls():
    pytest.importorskip("llama_cpp")
    from lma.agents import LLMAgent

    agent = LLMAgent("llamacpp:smollm2-135m", name="type1")
    result = run_episode(agent, Task("driving/highway-fast-v0", 0, max_steps=2, env_kwargs=FAST))
    assert result.error is None and result.steps >= 1 and result.tokens_out > 0
    assert len(agent.steps) == result.steps
    assert all(s.error is None and s.call.name in META_ACTIONS for s in agent.steps)


def test_registering_the_envs_imports_no_simulator():
    code = ("import sys, lma; from lma.registry import envs; envs.names(); "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'highway_env', 'pygame', 'crafter'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stderr[-500:]
