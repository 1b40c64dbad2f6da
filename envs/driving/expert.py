"""A rule-based driver (the env's oracle and agent ``expert-driver``): IDM/MOBIL-style decisions from the kinematics.

It reads only the observation's scene (``obs["data"]["scene"]``, see :mod:`lma.envs.driving.scene`:
neighbours' lanes, gaps, speeds and predicted times-to-collision) and the tools valid now, and
picks one meta-action. The rules, in order:

1. **Conflict**: a predicted time-to-collision below ``brake_ttc`` (ignoring a vehicle closing in
   from behind in the ego's lane) makes it leave the lane if the conflict is ahead in it and a
   neighbouring lane is safe (MOBIL's safety criterion with only the minimum gaps) and roomier (a
   clearly longer gap ahead); otherwise it
   takes whichever of slower / idle / faster has the longest predicted time-to-collision at its
   set-point (ties go to the slower).
2. **Following** (IDM's desired gap ``s* = min_gap + speed * time_gap``): a leader closer than
   ``s*`` makes it change lane if MOBIL's safety and incentive (a faster leader there) criteria
   hold, else brake while the gap closes or is far too short.
3. **Free road**: ``faster`` when the next set-point keeps the desired gap and has no predicted
   conflict within ``yield_ttc`` seconds (this is how it waits for a gap at the roundabout and
   the crossing).
4. **Keep right**: ``lane_right`` when that lane is safe and clear well ahead.
5. Otherwise ``idle``.

It is scripted, not learned: the ceiling of a comparison, and a source of demonstrations. It drives
the meta-action scenarios; ``driving/parking-v0`` has a continuous action and is not among them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

VEHICLE_LENGTH = 5.0
LANE_WIDTH = 4.0


@dataclass(frozen=True)
class DriverParams:
    """The thresholds of the rules (seconds and metres); the defaults are what docs/results.md reports."""

    time_gap: float = 1.5
    min_gap: float = 6.0
    brake_ttc: float = 4.0
    yield_ttc: float = 6.0
    rear_time_gap: float = 0.5
    lane_gain: float = 1.0  # m/s a neighbouring lane's leader must be faster by


def _lane(scene: dict[str, Any], offset: int) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The nearest vehicle ahead and the nearest behind in the lane ``offset`` lanes to the right."""
    cars = [n for n in scene["neighbours"] if n["lane_offset"] == offset]
    ahead = [n for n in cars if n["ahead"] >= 0]
    behind = [n for n in cars if n["ahead"] < 0]
    return (min(ahead, key=lambda n: n["ahead"], default=None), max(behind, key=lambda n: n["ahead"], default=None))


def _gap(n: dict[str, Any] | None) -> float:
    return abs(n["ahead"]) - VEHICLE_LENGTH if n is not None else float("inf")


def _behind_in_lane(n: dict[str, Any]) -> bool:
    return n["lane_offset"] == 0 and n["ahead"] < 0


class _Rules:
    """One decision over one scene; see the module docstring."""

    def __init__(self, scene: dict[str, Any], available: list[str], p: DriverParams):
        self.scene, self.available, self.p = scene, available, p
        ego = scene["ego"]
        self.speed, self.set_point = ego["speed"], ego["target_speed"]
        self.set_points = sorted(ego["target_speeds"])
        self.desired_gap = p.min_gap + self.speed * p.time_gap
        self.leader, _ = _lane(scene, 0)

    def lane_safe(self, offset: int, urgent: bool = False) -> bool:
        """MOBIL's safety criterion: room ahead and behind in the target lane for the speeds involved.

        ``urgent`` (escaping a conflict the ego cannot brake out of) drops the time gaps and keeps
        only the minimum gaps plus room for the closing speeds.
        """
        front, rear = _lane(self.scene, offset)
        scale = 0.0 if urgent else 1.0
        if front is not None:
            closing = max(0.0, self.speed - front["speed"])
            if _gap(front) < self.p.min_gap + closing * self.p.brake_ttc + self.speed * self.p.time_gap * 0.7 * scale:
                return False
        if rear is not None:
            closing = max(0.0, rear["speed"] - self.speed)
            if _gap(rear) < self.p.min_gap + closing * 3.0 + rear["speed"] * self.p.rear_time_gap * scale:
                return False
        return True

    def lane_better(self, offset: int) -> bool:
        """MOBIL's incentive criterion, with the leaders' speeds as the accelerations' proxy."""
        front, _ = _lane(self.scene, offset)
        if self.leader is None:
            return False
        if front is None:
            return True
        return front["speed"] > self.leader["speed"] + self.p.lane_gain and _gap(front) > _gap(self.leader)

    def lane_roomier(self, offset: int) -> bool:
        """Escaping a conflict pays only into more room: a clearly longer gap ahead, or none."""
        front, _ = _lane(self.scene, offset)
        return front is None or _gap(front) > _gap(self.leader) + self.p.min_gap

    def change_lane(self, urgent: bool = False) -> str | None:
        """A safe lane change: to a faster lane, or when ``urgent`` to a roomier one."""
        for name, offset in (("lane_left", -1), ("lane_right", 1)):
            if name not in self.available or not self.lane_safe(offset, urgent):
                continue
            if self.lane_roomier(offset) if urgent else self.lane_better(offset):
                return name
        return None

    def min_ttc(self, set_point: float | None = None) -> float:
        """The smallest predicted time-to-collision (at ``set_point``, default the current speed)."""
        key = None if set_point is None else f"{set_point:g}"
        times = [n["ttc"] if key is None else n["ttc_at"].get(key) for n in self.scene["neighbours"]
                 if set_point is not None or not _behind_in_lane(n)]
        return min((t for t in times if t is not None), default=float("inf"))

    def neighbour_set_point(self, step: int) -> float | None:
        """The set-point ``step`` places above (+1) or below (-1) the current one, if any."""
        i = min(range(len(self.set_points)), key=lambda k: abs(self.set_points[k] - self.set_point), default=None)
        if i is None or not 0 <= i + step < len(self.set_points):
            return None
        return self.set_points[i + step]

    def resolve_conflict(self) -> tuple[str, str]:
        """Leave the lane if the conflict is in it and a lane is safe; else take the safest speed."""
        if any(n["lane_offset"] == 0 and n["ahead"] >= 0 and n["ttc"] is not None
               and n["ttc"] < self.p.brake_ttc for n in self.scene["neighbours"]):
            change = self.change_lane(urgent=True)
            if change:
                return change, "conflict ahead in my lane; the neighbouring lane is safe and roomier"
        options = [("slower", self.neighbour_set_point(-1)), ("idle", self.set_point), ("faster", self.neighbour_set_point(1))]
        scored = [(self.min_ttc(sp), -k, name) for k, (name, sp) in enumerate(options)
                  if sp is not None and name in self.available]
        _, _, best = max(scored)
        return best, f"predicted conflict within {self.p.brake_ttc:g} s; {best} keeps the longest time-to-collision"

    def decide(self) -> tuple[str, str]:
        if self.min_ttc() < self.p.brake_ttc:
            return self.resolve_conflict()
        gap = _gap(self.leader)
        if gap < self.desired_gap:
            change = self.change_lane(urgent="slower" not in self.available)
            if change:
                return change, "leader too close; the neighbouring lane is safe and better"
            if self.leader["rel_speed"] < 0 or gap < 0.6 * self.desired_gap:
                if "slower" in self.available:
                    return "slower", f"gap {gap:.0f} m below the desired {self.desired_gap:.0f} m"
            return "idle", "following"
        higher = self.neighbour_set_point(1)
        if "faster" in self.available and higher is not None:
            faster_gap = self.p.min_gap + higher * self.p.time_gap
            if gap >= faster_gap and self.min_ttc(higher) >= self.p.yield_ttc:
                return "faster", "free road and no predicted conflict at the next set-point"
        if "lane_right" in self.available and self.lane_safe(1):
            front, _ = _lane(self.scene, 1)
            if front is None or (_gap(front) >= 2 * self.desired_gap and front["speed"] >= self.speed):
                return "lane_right", "keep right: the right lane is safe and no slower"
        return "idle", "nothing to change"


def decide(scene: dict[str, Any], available: list[str], params: DriverParams | None = None) -> tuple[str, str]:
    """The meta-action (a tool name among ``available``) for ``scene``, and the rule that chose it."""
    name, reason = _Rules(scene, available, params or DriverParams()).decide()
    return (name if name in available else "idle"), reason
