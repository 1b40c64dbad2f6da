"""A driving scene in numbers and in words: the ego vehicle and its neighbours in the ego's road frame.

GPT-Driver (Mao et al., 2023) drives with a language planner that reads a compact text of the ego
state and of the surrounding agents' positions, speeds and likely conflicts. :func:`read_scene`
builds that state from highway-env's road as a plain dict (the ``data`` of an observation; the
rule-based expert reads only this), and :func:`describe_scene` turns it into the text.

The frame: origin at the ego; ``ahead`` runs along the ego's current lane (curvilinear on curved
lanes such as the roundabout ring), ``right`` across it, both in metres; right is positive as in
highway-env, whose lane indices grow to the right. Lanes are numbered from 1 = leftmost.
``rel_speed`` is the neighbour's along-road speed minus the ego's (negative for a vehicle ahead:
the gap is closing) and ``rel_lateral_speed`` its across-road counterpart (positive: moving right
relative to the ego). ``ttc`` is the time-to-collision if everyone drives on along their routes at
constant speed (:mod:`lma.envs.driving.prediction`), or None when no collision is predicted;
``ttc_at`` gives it for each cruise set-point of the ego, so a policy can ask "and if I went faster?".
"""

from __future__ import annotations

from typing import Any

import numpy as np

PARALLEL = np.deg2rad(30)  # headings closer than this count as the same direction of travel


def _wrap(angle: float) -> float:
    return float((angle + np.pi) % (2 * np.pi) - np.pi)


def _relation(lane_offset: int | None, heading: float, right: float) -> str:
    """Where a neighbour drives relative to the ego, in words (``heading`` relative to the ego's)."""
    if lane_offset is not None:
        if lane_offset == 0:
            return "same lane"
        side = "left" if lane_offset < 0 else "right"
        return f"{abs(lane_offset)} lane{'s' if abs(lane_offset) > 1 else ''} to the {side}"
    if abs(heading) < PARALLEL:
        return f"on another road to the {'right' if right > 0 else 'left'}, same direction"
    if abs(heading) > np.pi - PARALLEL:
        return "oncoming"
    return "crossing from the left" if heading > 0 else "crossing from the right"


def read_scene(env: Any, *, radius: float = 100.0, ids: dict[int, int] | None = None) -> dict[str, Any]:
    """The ego and every vehicle or obstacle within ``radius`` metres, nearest first (see module doc).

    ``env`` is a highway-env ``AbstractEnv`` (unwrapped). ``ids`` maps ``id(vehicle)`` to a short
    number that stays the same over an episode; pass the same dict every step.
    """
    from highway_env.vehicle.kinematics import Vehicle

    from lma.envs.driving.prediction import predict_paths, time_to_collision

    ids = {} if ids is None else ids
    ego, road = env.vehicle, env.road
    lane = road.network.get_lane(ego.lane_index)
    s_ego, r_ego = lane.local_coordinates(ego.position)
    lane_heading = lane.heading_at(s_ego)
    ego_dh = _wrap(ego.heading - lane_heading)
    ego_v = np.array([np.cos(ego_dh), np.sin(ego_dh)]) * ego.speed
    side_lanes = road.network.all_side_lanes(ego.lane_index)
    target = getattr(ego, "target_lane_index", ego.lane_index)
    speeds = getattr(ego, "target_speeds", None)
    scene: dict[str, Any] = {
        "ego": {
            "lane": int(ego.lane_index[2]) + 1,
            "lanes": len(side_lanes),
            "road": f"{ego.lane_index[0]}->{ego.lane_index[1]}",
            "changing_to": int(target[2]) + 1 if target[:2] == ego.lane_index[:2] and target != ego.lane_index else None,
            "speed": round(float(ego.speed), 2),
            "target_speed": round(float(getattr(ego, "target_speed", ego.speed)), 2),
            "target_speeds": [round(float(v), 2) for v in speeds] if speeds is not None else [],
            "heading_deg": round(float(np.rad2deg(ego_dh)), 1),
            "offset_m": round(float(r_ego), 2),
            "position": [round(float(v), 2) for v in ego.position],
            "crashed": bool(ego.crashed),
            "on_road": bool(ego.on_road),
        },
        "neighbours": [],
    }
    ego_paths = predict_paths(ego, scene["ego"]["target_speed"])
    set_point_paths = {v: predict_paths(ego, v) for v in scene["ego"]["target_speeds"]}
    others = [v for v in road.vehicles if v is not ego] + [
        o for o in road.objects if getattr(o, "solid", False) and getattr(o, "collidable", False)
    ]
    found = []
    for other in others:
        distance = float(np.linalg.norm(other.position - ego.position))
        if distance > radius:
            continue
        moving = isinstance(other, Vehicle)
        s, r = lane.local_coordinates(other.position)
        local_heading = lane.heading_at(s)
        dh = _wrap(other.heading - local_heading)
        v = np.array([np.cos(dh), np.sin(dh)]) * (float(other.speed) if moving else 0.0)
        heading = _wrap(other.heading - ego.heading)
        lane_offset: int | None = None
        by_width = int(np.round(r / lane.width_at(s_ego)))
        if other.lane_index is not None and other.lane_index[:2] == ego.lane_index[:2]:
            lane_offset = int(other.lane_index[2] - ego.lane_index[2])
        elif abs(_wrap(other.heading - lane_heading)) < PARALLEL or not moving:
            # a lane of the road before or after the ego's keeps its index; a ramp's does not
            if other.lane_index is not None and other.lane_index[2] - ego.lane_index[2] == by_width:
                lane_offset = by_width
        rel = v - ego_v
        paths = predict_paths(other)
        key = ids.setdefault(id(other), len(ids) + 1)
        found.append({
            "id": key,
            "kind": "car" if moving else "obstacle",
            "lane_offset": lane_offset,
            "relation": _relation(lane_offset, heading, r - r_ego),
            "ahead": round(float(s - s_ego), 2),
            "right": round(float(r - r_ego), 2),
            "distance": round(distance, 2),
            "speed": round(float(other.speed) if moving else 0.0, 2),
            "rel_speed": round(float(rel[0]), 2),
            "rel_lateral_speed": round(float(rel[1]), 2),
            "heading_deg": round(float(np.rad2deg(heading)), 1),
            "ttc": time_to_collision(ego, ego_paths, other, paths),
            "ttc_at": {f"{sp:g}": time_to_collision(ego, sp_paths, other, paths)
                       for sp, sp_paths in set_point_paths.items()},
        })
    scene["neighbours"] = sorted(found, key=lambda n: n["distance"])
    return scene


def _where(n: dict[str, Any]) -> str:
    parts = [f"{abs(n['ahead']):.1f} m {'ahead' if n['ahead'] >= 0 else 'behind'}"]
    if abs(n["right"]) >= 0.5:
        parts.append(f"{abs(n['right']):.1f} m to the {'right' if n['right'] > 0 else 'left'}")
    return ", ".join(parts)


def describe_neighbour(n: dict[str, Any]) -> str:
    """One line about one neighbour, e.g. ``car 3: same lane, 22.4 m ahead, ... time-to-collision 4.4 s``."""
    if n["kind"] == "obstacle":
        motion = "static"
    else:
        motion = f"speed {n['speed']:.1f} m/s, relative speed {n['rel_speed']:+.1f} m/s"
    ttc = f"time-to-collision {n['ttc']:.1f} s" if n["ttc"] is not None else "no collision course"
    return f"{n['kind']} {n['id']}: {n['relation']}, {_where(n)}, {motion}, {ttc}"


def describe_scene(scene: dict[str, Any], *, max_neighbours: int = 8) -> str:
    """The ego line and one line per neighbour (nearest first), as the planner reads them."""
    ego = scene["ego"]
    line = (f"Ego: lane {ego['lane']} of {ego['lanes']} (counted from the left), "
            f"speed {ego['speed']:.1f} m/s, cruise set-point {ego['target_speed']:.0f} m/s")
    if ego["target_speeds"]:
        line += f" (set-points {', '.join(f'{v:g}' for v in ego['target_speeds'])})"
    if ego["changing_to"]:
        line += f", changing to lane {ego['changing_to']}"
    if abs(ego["heading_deg"]) >= 3:
        side = "right" if ego["heading_deg"] > 0 else "left"
        line += f", heading {abs(ego['heading_deg']):.0f} deg to the {side} of the lane"
    if ego["crashed"]:
        line += "; CRASHED"
    near = scene["neighbours"][:max_neighbours]
    lines = [line + ".", "Neighbours (positions along and across the road from you):"]
    lines += [f"- {describe_neighbour(n)}" for n in near] or ["- none within sight"]
    return "\n".join(lines)
