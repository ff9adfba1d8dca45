"""The lane stage on synthetic drives with a known camera: offset, curvature, ids and lane changes against truth.

Camera: 640x360, 60 degree field of view, 1.4 m above the road, pitched 2 degrees down (given, so the stage
works in true metres: ``geometry == "camera_file"``). Bounds are what a user would call right, with margin
over what we measure (see benchmarks/lanes.py for the measured numbers).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from calibration import default_camera
from perception.lanes import make_lane_stage
from perception.lanes.metrics import run_stage, synthetic_errors
from perception.lanes.synthetic import SyntheticRoad, drive, render_road
from perception.results import FrameResult, LaneLine

CAMERA = default_camera(640, 360).with_mounting(height_m=1.4, pitch_rad=math.radians(2.0))
FPS = 25.0


def ramp(t: float, t0: float, t1: float) -> float:
    return min(max((t - t0) / (t1 - t0), 0.0), 1.0)


def _run(n_frames: int, car_y_m, curvature_1pm, source: str = "classical", network_lanes=None):
    frames = list(drive(CAMERA, n_frames, fps=FPS, car_y_m=car_y_m, curvature_1pm=curvature_1pm))
    stage = make_lane_stage(CAMERA, (CAMERA.width_px, CAMERA.height_px), source=source)
    records = run_stage(stage, [(f.timestamp_s, f.image_bgr) for f in frames],
                        network_lanes=None if network_lanes is None else network_lanes(frames))
    truth = [{"lane_offset_m": f.lane_offset_m, "curvature_1pm": f.curvature_1pm, "lane_change": f.lane_change}
             for f in frames]
    return stage, records, synthetic_errors(records, truth)


@pytest.fixture(scope="module")
def curve_run():
    # Offset drifting +-0.5 m (4 s period) while the road bends into a 400 m left curve (clothoid, 1 .. 2.5 s).
    return _run(100, lambda t: 0.5 * math.sin(2 * math.pi * t / 4), lambda t: ramp(t, 1.0, 2.5) / 400)


def test_offset_follows_the_drift(curve_run):
    stage, records, err = curve_run
    assert err["frames_scored"] >= 85
    assert err["offset_abs_err_m"]["mean"] <= 0.06
    assert err["offset_abs_err_m"]["max"] <= 0.15
    assert all(r.ego["geometry"] == "camera_file" for r in records)


def test_curvature_of_a_400_m_curve(curve_run):
    _, records, err = curve_run
    assert err["curvature_abs_err_1pm"]["mean"] <= 2.5e-4  # 10% of 1/400
    radii = [r.ego["curvature_radius_m"] for r in records[-20:]]  # the last 0.8 s, on the constant curve
    assert all(r is not None and 340 <= r <= 460 for r in radii)
    assert all(r.ego["curvature_1pm"] > 0 for r in records[-20:])  # bending left
    assert records[10].ego["curvature_radius_m"] is None  # still straight at 0.4 s


def test_ids_are_stable_and_both_ego_lines_are_seen(curve_run):
    _, records, err = curve_run
    assert err["id_flips"] == 0
    assert err["both_ego_share"] >= 0.95
    after_warmup = [r.ids_by_side for r in records[5:]]
    assert all(ids == after_warmup[0] for ids in after_warmup)
    assert set(after_warmup[0]) == {"left_left", "ego_left", "ego_right", "right_right"}


def test_lane_change_to_the_right_is_reported_once_and_lines_keep_their_ids():
    # The car moves one lane (3.6 m) to the right between 0.8 s and 3.3 s on a gentle right bend.
    _, records, err = _run(100, lambda t: -3.6 * ramp(t, 0.8, 3.3), lambda t: -1.0 / 1000)
    (truth_frame, truth_dir), = err["lane_changes_expected"]
    assert truth_dir == "right"
    assert len(err["lane_changes_detected"]) == 1
    frame, direction = err["lane_changes_detected"][0]
    assert direction == "right" and truth_frame <= frame <= truth_frame + 10
    before, after = records[frame - 1].ids_by_side, records[frame].ids_by_side
    assert after["ego_left"] == before["ego_right"]  # the line the car crossed is now on its left
    assert err["offset_abs_err_m"]["mean"] <= 0.06
    assert err["id_flips"] == 0


def test_network_source_uses_the_lane_heads_polylines():
    """Network source: the lane head's per-frame polylines (here: the true lines, 2 px noise) are tracked."""
    rng = np.random.default_rng(0)
    road = SyntheticRoad()

    def network_lanes(frames):
        from perception.lanes.bev import BevProjector

        proj = BevProjector(CAMERA)
        per_frame = [[] for _ in frames]
        for i, f in enumerate(frames):
            x = np.linspace(5.0, 40.0, 25)
            for k, y0 in enumerate(road.line_y0()):
                uv = proj.raw_from_road(np.column_stack([x, y0 - f.car_y_m + 0.5 * f.curvature_1pm * x * x]))
                uv = uv[(uv[:, 0] >= 0) & (uv[:, 0] < CAMERA.width_px)] + rng.normal(0, 2.0, (1, 2))
                per_frame[i].append(LaneLine(id=k, side="other", points_xy=uv, confidence=0.8))
        queue = iter(per_frame)
        return lambda image: next(queue)

    _, records, err = _run(50, lambda t: 0.3, lambda t: 0.0, source="network", network_lanes=network_lanes)
    assert err["offset_abs_err_m"]["mean"] <= 0.06
    assert err["both_ego_share"] >= 0.9


def test_markings_gone_for_a_moment_are_held_then_dropped():
    stage = make_lane_stage(CAMERA, (640, 360))
    blank = SyntheticRoad(line_indices=())  # a road without paint
    ids = []
    for i in range(50):
        road = blank if 15 <= i < 20 or i >= 25 else SyntheticRoad()
        result = FrameResult(frame=i, timestamp_s=i / FPS)
        stage(result, render_road(CAMERA, road, car_y_m=0.2, travelled_m=i, seed=i))
        ids.append({lane.side: lane.id for lane in result.lanes})
    assert ids[17] == ids[14] and "ego_left" in ids[17]  # 0.2 s gap: held, same ids
    assert ids[22] == ids[14]
    assert ids[-1] == {}  # 1.0 s without paint: dropped (hold_s = 0.8 s)
