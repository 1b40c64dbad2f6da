"""highway-env scenarios as lma envs: GPT-Driver-style text, the rendered frame, meta-action tools.

What a user must know: ``lma.make("driving/highway-fast-v0")`` (also ``merge-v1``,
``roundabout-v1``, ``intersection-v1``) gives an env whose observation text is the goal, the time,
and the scene of :mod:`lma.envs.driving.scene` (ego lane and speed; each neighbour's lane,
position ahead/behind and left/right in metres, speed, relative speed and time-to-collision); its
``image`` is highway-env's rendered frame and ``data["scene"]`` the same scene as numbers. The
tools are the scenario's meta-actions *available now* (highway-env's ``get_available_actions``):
``lane_left``, ``lane_right``, ``faster``, ``slower``, ``idle``, mapped by name onto the scenario's
own ``DiscreteMetaAction`` indices (the intersection has no lane changes). One step is one
decision; the simulator then runs for 1/policy_frequency seconds (1 s in these scenarios).

Success: the episode ended (the scenario's own end: time limit, passing the merge, arriving)
without a crash. ``episode_metrics()``: crashed, distance travelled, mean speed, lane changes,
steps, seconds and seconds on the road. A simulator exception inside a step ends the episode with a
recorded failed step (``info["error"]``, truncated) and ``simulator_error`` in the metrics.

Rendering: frames need SDL's video driver not to be ``dummy`` (highway-env then skips drawing and
every frame is black); :func:`prepare_display` switches ``dummy`` (or no display at all) to SDL's
``offscreen`` driver, which draws without a window.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import gymnasium as gym
import numpy as np

from lma.core import Observation, ToolCall
from lma.envs.base import ActionTool, ToolEnv
from lma.envs.spaces import Frame, observation_space
from lma.envs.driving import SCENARIOS
from lma.envs.driving.scene import describe_scene, read_scene
from lma.errors import LmaError, describe_error

log = logging.getLogger(__name__)

META_ACTIONS: dict[str, tuple[str, str]] = {  # tool -> (highway-env label, what the planner reads)
    "lane_left": ("LANE_LEFT", "change to the lane on your left"),
    "lane_right": ("LANE_RIGHT", "change to the lane on your right"),
    "faster": ("FASTER", "raise the cruise set-point to the next higher speed"),
    "slower": ("SLOWER", "lower the cruise set-point to the next lower speed (the lowest may be a stop)"),
    "idle": ("IDLE", "keep your lane and your cruise set-point"),
}


class SimulatorError(LmaError):
    """highway-env could not be built or reset."""


def prepare_display() -> None:
    """Make pygame draw off screen; see the module docstring for why ``dummy`` must not be used."""
    driver = os.environ.get("SDL_VIDEODRIVER")
    if driver == "dummy":
        log.warning("SDL_VIDEODRIVER=dummy blanks highway-env frames; using SDL's offscreen driver instead")
        os.environ["SDL_VIDEODRIVER"] = "offscreen"
    elif driver is None and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        os.environ["SDL_VIDEODRIVER"] = "offscreen"


_IDM_SHARED = ("DISTANCE_WANTED", "COMFORT_ACC_MAX", "COMFORT_ACC_MIN")
_idm_defaults: dict[str, float] = {}


def restore_idm_defaults() -> None:
    """Undo highway-env's intersection changing ``IDMVehicle``'s class attributes for the whole process.

    Without this, a highway episode run after an intersection episode in the same process drives
    among differently tuned vehicles, and the same seed no longer gives the same episode.
    """
    from highway_env.vehicle.behavior import IDMVehicle

    if not _idm_defaults:
        _idm_defaults.update({name: getattr(IDMVehicle, name) for name in _IDM_SHARED})
    for name, value in _idm_defaults.items():
        setattr(IDMVehicle, name, value)


class HighwayEnvBase(ToolEnv):
    """What every highway-env scenario shares: building, rendering, metrics, failure handling.

    Subclasses set ``tools`` and implement ``_text()``, ``_data()`` and ``_action(call)`` (the
    highway-env action for a call); ``_refresh()``, called after every reset and step, may update
    what depends on the simulator's state (the tools valid now, the scene).
    """

    def __init__(self, gym_id: str, goal: str, *, config: dict[str, Any] | None = None, render: bool = True):
        super().__init__()
        prepare_display()
        import highway_env  # noqa: F401  (registers highway-env's ids with Gymnasium)

        restore_idm_defaults()  # first call records the library's values, before any intersection
        try:
            self.inner = gym.make(gym_id, render_mode="rgb_array" if render else None, config=config or {})
        except Exception as exc:
            raise SimulatorError(f"highway-env could not build {gym_id}: {describe_error(exc)}") from exc
        self.road_env: Any = self.inner.unwrapped
        screen = (self.road_env.config["screen_height"], self.road_env.config["screen_width"])
        self.observation_space = observation_space(Frame(screen, optional=False) if render else Frame(never=True))
        self.gym_id, self.goal, self.render_frames = gym_id, goal, render
        self._ids: dict[int, int] = {}
        self._error: str | None = None

    # What subclasses provide.
    def _text(self) -> str:
        raise NotImplementedError

    def _data(self) -> dict[str, Any]:
        raise NotImplementedError

    def _action(self, call: ToolCall) -> Any:
        raise NotImplementedError

    def _refresh(self) -> None:
        """Update what depends on the simulator's state; the default has nothing to update."""

    # The shared loop.
    def _observe(self) -> Observation:
        frame = self.inner.render() if self.render_frames else None
        return {"text": self._text(), "image": frame, "data": {"goal": self.goal, **self._data()}}

    def _reset(self, seed: int | None):
        restore_idm_defaults()
        try:
            _, info = self.inner.reset(seed=seed)
        except Exception as exc:
            raise SimulatorError(f"highway-env failed to reset {self.gym_id}: {describe_error(exc)}") from exc
        self._ids, self._error = {}, None
        ego = self.road_env.vehicle
        self._last_position, self._last_lane = np.array(ego.position), ego.lane_index
        self._steps, self._distance, self._on_road_seconds, self._lane_changes = 0, 0.0, 0.0, 0
        self._refresh()
        return self._observe(), dict(info)

    def _act(self, call: ToolCall):
        try:
            _, reward, terminated, truncated, info = self.inner.step(self._action(call))
        except Exception as exc:  # the simulator's state is unknown now: end the episode, say why
            self._error = f"simulator error: {describe_error(exc)}"
            info = {"error": self._error, "success": False}
            return self._last_obs, 0.0, False, True, info
        self._track()
        self._refresh()
        info = dict(info)
        if terminated or truncated:
            info["success"] = self._succeeded(info)
        return self._observe(), reward, terminated, truncated, info

    def _succeeded(self, info: dict[str, Any]) -> bool:
        return not self.road_env.vehicle.crashed

    def _track(self) -> None:
        ego = self.road_env.vehicle
        self._steps += 1
        self._distance += float(np.linalg.norm(ego.position - self._last_position))
        self._last_position = np.array(ego.position)
        if ego.on_road:
            self._on_road_seconds += 1.0 / self.road_env.config["policy_frequency"]
        lane = ego.lane_index
        if lane[:2] == self._last_lane[:2] and lane[2] != self._last_lane[2]:
            self._lane_changes += 1
        self._last_lane = lane

    def episode_metrics(self) -> dict[str, Any]:
        """crashed, distance_m, mean_speed (m/s, distance over time), lane_changes, steps, seconds, seconds_on_road."""
        seconds = float(self.road_env.time)
        metrics: dict[str, Any] = {
            "crashed": bool(self.road_env.vehicle.crashed),
            "distance_m": round(self._distance, 2),
            "mean_speed": round(self._distance / seconds, 2) if seconds else 0.0,
            "lane_changes": self._lane_changes,
            "steps": self._steps,
            "seconds": round(seconds, 2),
            "seconds_on_road": round(self._on_road_seconds, 2),
        }
        if self._error:
            metrics["simulator_error"] = self._error
        return metrics

    def _time_line(self) -> str:
        duration = self.road_env.config.get("duration")
        return f"Time: {self.road_env.time:.1f} s" + (f" of {duration} s." if duration else ".")

    def close(self) -> None:
        self.inner.close()


class DrivingEnv(HighwayEnvBase):
    """One meta-action scenario of :data:`lma.envs.driving.SCENARIOS` (see the module docstring).

    ``config`` overrides highway-env's configuration (e.g. ``{"duration": 10}``); ``render=False``
    leaves ``image`` None (faster, for benchmarks of the policy alone); ``radius`` is how far
    neighbours are seen (m) and ``max_neighbours`` how many the text lists.
    """

    def __init__(self, scenario: str, *, config: dict[str, Any] | None = None, render: bool = True,
                 radius: float = 100.0, max_neighbours: int = 8):
        if scenario not in SCENARIOS:
            raise LmaError(f"unknown driving scenario {scenario!r}; known: {', '.join(SCENARIOS)}")
        gym_id, goal = SCENARIOS[scenario]
        super().__init__(gym_id, goal, config=config, render=render)
        self.scenario, self.radius, self.max_neighbours = scenario, radius, max_neighbours
        labels = self.road_env.action_type.actions_indexes
        self._index = {name: labels[label] for name, (label, _) in META_ACTIONS.items() if label in labels}
        self._all_tools = [ActionTool(name, META_ACTIONS[name][1]) for name in self._index]
        self.tools = list(self._all_tools)
        self._scene: dict[str, Any] = {}

    def _refresh(self) -> None:
        """The tools available now and the scene."""
        available = set(self.road_env.get_available_actions())
        self.tools = [t for t in self._all_tools if self._index[t.name] in available]
        self._scene = read_scene(self.road_env, radius=self.radius, ids=self._ids)

    def _text(self) -> str:
        return "\n".join([
            f"Goal: {self.goal}",
            self._time_line(),
            describe_scene(self._scene, max_neighbours=self.max_neighbours),
            "Available actions: " + ", ".join(t.name for t in self.tools) + ".",
        ])

    def _data(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "time": float(self.road_env.time),
            "scene": self._scene,
            "available": [t.name for t in self.tools],
        }

    def _action(self, call: ToolCall) -> int:
        return self._index[call.name]

    def expert_action(self) -> ToolCall:
        """The rule-based driver of :mod:`lma.envs.driving.expert` (scripted, reads only the scene)."""
        from lma.envs.driving.expert import decide

        return ToolCall(decide(self._scene, [t.name for t in self.tools])[0])
