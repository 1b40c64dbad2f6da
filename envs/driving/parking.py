"""highway-env's ``parking-v0`` as an lma env: one continuous tool, the goal described from the car.

What a user must know: the only tool is ``drive(acceleration, steering)``: acceleration in m/s²
(negative brakes, then reverses) and steering angle in degrees (positive turns right), both within
highway-env's bounds, held for one decision (1/5 s here). The text says where the goal spot is from
the car (metres ahead/behind and left/right, and how far the car must turn to face the way the spot
does), the speed, and where the car is in the walled lot. Success is highway-env's own
``is_success``: close enough to the spot's centre and aligned with it. ``episode_metrics()`` adds
the final distance and heading error to the shared driving metrics.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lma.core import ToolCall
from lma.envs.base import ActionTool
from lma.envs.driving import PARKING_GOAL
from lma.envs.driving.env import HighwayEnvBase


def _wrap_deg(angle: float) -> float:
    return float((np.rad2deg(angle) + 180.0) % 360.0 - 180.0)


class ParkingEnv(HighwayEnvBase):
    """``driving/parking-v0``; ``config`` overrides highway-env's configuration (e.g. ``{"duration": 20}``)."""

    def __init__(self, *, config: dict[str, Any] | None = None, render: bool = True):
        super().__init__("parking-v0", PARKING_GOAL, config=config, render=render)
        action = self.road_env.action_type
        self.acceleration_range = tuple(float(v) for v in action.acceleration_range)
        self.steering_range_deg = tuple(float(np.rad2deg(v)) for v in action.steering_range)
        params = {
            "type": "object",
            "properties": {
                "acceleration": {"type": "number", "minimum": self.acceleration_range[0],
                                 "maximum": self.acceleration_range[1],
                                 "description": "m/s^2; negative brakes, then reverses"},
                "steering": {"type": "number", "minimum": self.steering_range_deg[0],
                             "maximum": self.steering_range_deg[1],
                             "description": "steering angle in degrees; positive turns right"},
            },
            "required": ["acceleration", "steering"],
            "additionalProperties": False,
        }
        seconds = 1.0 / self.road_env.config["policy_frequency"]
        self.tools = [ActionTool("drive", f"accelerate and steer for the next {seconds:g} s", params)]

    def goal_state(self) -> dict[str, float]:
        """The goal seen from the car: metres ahead and to the right, the turn needed, the speed."""
        ego = self.road_env.vehicle
        delta = ego.goal.position - ego.position
        c, s = np.cos(ego.heading), np.sin(ego.heading)
        return {
            "goal_ahead": round(float(c * delta[0] + s * delta[1]), 2),
            "goal_right": round(float(-s * delta[0] + c * delta[1]), 2),
            "goal_turn_deg": round(_wrap_deg(ego.goal.heading - ego.heading), 1),
            "distance": round(float(np.linalg.norm(delta)), 2),
            "speed": round(float(ego.speed), 2),
            "position": [round(float(v), 2) for v in ego.position],
            "heading_deg": round(_wrap_deg(ego.heading), 1),
        }

    def _text(self) -> str:
        g = self.goal_state()
        turn = g["goal_turn_deg"]
        motion = "stopped" if abs(g["speed"]) < 0.05 else (
            f"moving forward at {g['speed']:.1f} m/s" if g["speed"] > 0 else f"reversing at {-g['speed']:.1f} m/s")
        return "\n".join([
            f"Goal: {self.goal}",
            self._time_line(),
            f"Goal spot: {abs(g['goal_ahead']):.1f} m {'ahead' if g['goal_ahead'] >= 0 else 'behind'}, "
            f"{abs(g['goal_right']):.1f} m to the {'right' if g['goal_right'] >= 0 else 'left'} "
            f"({g['distance']:.1f} m away); to face the way the spot does, turn {abs(turn):.0f} deg "
            f"to the {'right' if turn >= 0 else 'left'}.",
            f"You are {motion}, at x = {g['position'][0]:.1f} m, y = {g['position'][1]:.1f} m in a lot "
            "walled at x = -35 and 35 m, y = -21 and 21 m.",
            f"Tool: drive(acceleration {self.acceleration_range[0]:g}..{self.acceleration_range[1]:g} m/s^2, "
            f"steering {self.steering_range_deg[0]:g}..{self.steering_range_deg[1]:g} deg).",
        ])

    def _data(self) -> dict[str, Any]:
        return {"scenario": "parking-v0", "time": float(self.road_env.time), **self.goal_state()}

    def _action(self, call: ToolCall) -> np.ndarray:
        def to_unit(value: float, low: float, high: float) -> float:
            return 2.0 * (value - low) / (high - low) - 1.0

        return np.array([to_unit(call.args["acceleration"], *self.acceleration_range),
                         to_unit(call.args["steering"], *self.steering_range_deg)], dtype=np.float32)

    def _succeeded(self, info: dict[str, Any]) -> bool:
        return bool(info.get("is_success")) and not self.road_env.vehicle.crashed

    def episode_metrics(self) -> dict[str, Any]:
        """The shared metrics without lane changes and time on road, plus ``goal_distance`` and ``goal_heading_error_deg``."""
        metrics = super().episode_metrics()
        metrics.pop("lane_changes")
        metrics.pop("seconds_on_road")  # parking spots are the only lanes: "on the road" means nothing here
        g = self.goal_state()
        metrics.update(goal_distance=g["distance"], goal_heading_error_deg=abs(g["goal_turn_deg"]))
        return metrics
