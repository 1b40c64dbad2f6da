"""Time-to-collision from predicted paths: the prediction module of a GPT-Driver-style pipeline.

Every vehicle follows its planned route (highway-env's routes, so the prediction knows where the
others will turn, as from their turn signals), lane by lane as highway-env's controller chooses
them, easing back to the lane centre over :data:`BLEND` metres. Speeds: the ego converges to a
cruise set-point with highway-env's time constant; every other vehicle is predicted twice, at
constant speed and braking to half its speed, since drivers slow before turns and behind leaders.
A vehicle without a route goes straight on; an obstacle stays put. While a vehicle changes lanes,
both its current and its target lane are followed.

The time-to-collision is the first time on :data:`TIMES` (every 0.25 s up to :data:`HORIZON`) at
which the two footprints, enlarged by a margin for prediction error, overlap in the ego's frame
(0.0: they overlap now), over every pair of predicted paths; None when they never do. Straight-line
extrapolation fails on the roundabout ring and at the intersection, where paths curve; following
the lanes does not.
"""

from __future__ import annotations

from typing import Any

import numpy as np

HORIZON = 10.0
TAU_ACC = 0.6  # highway-env ControlledVehicle.TAU_ACC [s]
SLOWING = 0.5  # the braking hypothesis: others slow to half their speed
BLEND = 12.0  # metres over which a predicted path returns to the lane centre
MARGIN_ALONG, MARGIN_ACROSS = 1.5, 0.5  # metres added to the footprints: room for prediction error
TIMES = np.arange(0.0, HORIZON + 1e-9, 0.25)

Path = tuple[np.ndarray, np.ndarray]  # positions (n, 2), headings (n,)


def _next_lane(network: Any, lane_index: Any, step: Any, exit_point: np.ndarray) -> Any:
    """The lane taken on road ``step`` after ``lane_index``, by highway-env's rule (``next_lane``):
    the planned lane if any, else the same lane id when both roads have as many lanes, else the
    lane nearest to where the vehicle leaves."""
    start, end, k = step
    if k is not None:
        return (start, end, k)
    lanes = network.graph[start][end]
    if len(lanes) == len(network.graph[lane_index[0]][lane_index[1]]):
        return (start, end, lane_index[2])
    return (start, end, min(range(len(lanes)), key=lambda i: lanes[i].distance(exit_point)))


def _pose(network: Any, lane_index: Any, steps: list[Any], longitudinal: float, lateral: float,
          start: float = 0.0) -> tuple[np.ndarray, float]:
    """Position and heading ``longitudinal`` metres along a lane and then the roads in ``steps``.

    ``lateral`` is the offset from the lane centre where the path starts (at ``start`` metres along
    the first lane); on every lane the
    offset (including the jump where one lane does not start where the last one ended, as when
    leaving the roundabout's inner lane) fades out linearly over :data:`BLEND` metres, as a
    vehicle steers back to the centre.
    """
    lane = network.get_lane(lane_index)
    for step in steps:
        if longitudinal <= lane.length:
            break
        exit_point = lane.position(lane.length, lateral * max(0.0, 1.0 - (lane.length - start) / BLEND))
        longitudinal -= lane.length
        lane_index = _next_lane(network, lane_index, step, exit_point)
        lane = network.get_lane(lane_index)
        lateral, start = float(lane.local_coordinates(exit_point)[1]), 0.0
    fade = lateral * max(0.0, 1.0 - (longitudinal - start) / BLEND)
    return lane.position(longitudinal, fade), lane.heading_at(longitudinal)


def _along_route(vehicle: Any, travelled: np.ndarray, lane_index: Any, route: list[Any]) -> Path:
    """The path from ``lane_index`` on along the rest of ``route`` (which may start with that road)."""
    network = vehicle.road.network
    lane = network.get_lane(lane_index)
    steps = list(route[1:] if route and tuple(route[0][:2]) == tuple(lane_index[:2]) else route)
    start, lateral = lane.local_coordinates(vehicle.position)
    poses = [_pose(network, lane_index, steps, start + d, float(lateral), float(start)) for d in travelled]
    return np.array([p for p, _ in poses]), np.array([h for _, h in poses])


def travelled(speed: float, target: float | None = None) -> np.ndarray:
    """Distance covered at each of :data:`TIMES`: at constant ``speed``, or converging to ``target``.

    The convergence is first order with highway-env's speed time constant (``TAU_ACC``), which is how
    its controlled vehicles track a cruise set-point.
    """
    if target is None:
        return TIMES * speed
    return target * TIMES + (speed - target) * TAU_ACC * (1.0 - np.exp(-TIMES / TAU_ACC))


def predict_paths(vehicle: Any, target_speed: float | None = None) -> list[Path]:
    """The predicted path(s) of ``vehicle``: reaching ``target_speed`` if given (the ego's plan),
    else both at constant speed and slowing to :data:`SLOWING` of it (others may brake, as
    highway-env's drivers do before a turn or behind a leader)."""
    from highway_env.vehicle.controller import ControlledVehicle
    from highway_env.vehicle.kinematics import Vehicle

    speed = float(vehicle.speed)
    profiles = [travelled(speed, target_speed)] if target_speed is not None else [
        travelled(speed), travelled(speed, SLOWING * speed)]
    if isinstance(vehicle, ControlledVehicle):
        route = list(vehicle.route or [])
        lanes = [vehicle.lane_index] + ([vehicle.target_lane_index] if vehicle.target_lane_index != vehicle.lane_index else [])
        return [_along_route(vehicle, distance, lane, route) for lane in lanes for distance in profiles]
    if isinstance(vehicle, Vehicle):
        direction = np.array([np.cos(vehicle.heading), np.sin(vehicle.heading)])
        return [(vehicle.position[None, :] + np.outer(distance, direction), np.full(len(TIMES), vehicle.heading))
                for distance in profiles]
    return [(np.repeat(vehicle.position[None, :], len(TIMES), 0), np.full(len(TIMES), vehicle.heading))]


def first_overlap(ego: Any, ego_path: Path, other: Any, other_path: Path) -> float | None:
    """The first time on :data:`TIMES` at which the two footprints overlap, or None."""
    (pe, he), (po, ho) = ego_path, other_path
    delta = po - pe
    c, s = np.cos(he), np.sin(he)
    along, across = c * delta[:, 0] + s * delta[:, 1], -s * delta[:, 0] + c * delta[:, 1]
    dh = ho - he
    ca, sa = np.abs(np.cos(dh)), np.abs(np.sin(dh))
    half_along = ego.LENGTH / 2 + (other.LENGTH * ca + other.WIDTH * sa) / 2 + MARGIN_ALONG
    half_across = ego.WIDTH / 2 + (other.LENGTH * sa + other.WIDTH * ca) / 2 + MARGIN_ACROSS
    hits = np.nonzero((np.abs(along) < half_along) & (np.abs(across) < half_across))[0]
    return float(TIMES[hits[0]]) if len(hits) else None


def time_to_collision(ego: Any, ego_paths: list[Path], other: Any, other_paths: list[Path]) -> float | None:
    """The earliest overlap over every pair of predicted paths, or None."""
    times = [t for ep in ego_paths for op in other_paths if (t := first_overlap(ego, ep, other, op)) is not None]
    return min(times) if times else None
