"""Lane stage building blocks where the answer is exact: line fits, BEV geometry, sides, the tracker's rules."""

from __future__ import annotations

import math

import numpy as np
import pytest

from calibration import CameraModel
from perception.lanes import BevProjector, LaneTracker, TrackerConfig, hud_lines
from perception.lanes.model import FitPrior, LineObservation, curvature_1pm, fit_line
from perception.lanes.sides import assign_sides, polyline_px



def test_fit_line_recovers_a_curve_and_its_curvature():
    x = np.linspace(5, 40, 30)
    truth = np.array([1.8, 0.01, 1.0 / 800])  # R = 400 m, bending left
    y = truth[0] + truth[1] * x + truth[2] * x * x + np.random.default_rng(0).normal(0, 0.02, x.size)
    coef, cov = fit_line(x, y, prior=FitPrior())
    assert np.allclose(coef, truth, atol=[0.05, 0.005, 1e-4])
    assert 1 / curvature_1pm(coef) == pytest.approx(400, rel=0.1)
    assert np.all(np.diag(cov) > 0)


def test_bev_projector_round_trip_with_distortion():
    cam = CameraModel(640, 360, 400.0, 400.0, 319.5, 179.5, (-0.25, 0.08, 0.0, 0.0, 0.0),
                      height_m=1.3, pitch_rad=math.radians(3.0), yaw_rad=math.radians(1.0))
    proj = BevProjector(cam)
    road = np.array([[6.0, 1.8], [12.0, -1.7], [25.0, 3.0], [40.0, 0.0]])
    raw = proj.raw_from_road(road)
    assert np.all((raw[:, 0] > 0) & (raw[:, 0] < 639) & (raw[:, 1] > 0) & (raw[:, 1] < 359))
    assert np.allclose(proj.road_from_raw(raw), road, atol=1e-3 * road[:, :1] + 1e-3)
    # The BEV starts no nearer than where the bottom image row meets the road.
    assert proj.grid.x_range_m[0] == pytest.approx(max(3.0, proj.x_of_bottom_row()), abs=1e-6)


def test_filtering_only_the_window_the_warp_reads_gives_the_same_bev():
    """The lane stage blurs and converts only the raw window its BEV reads: the same channels as the whole frame."""
    import cv2

    from perception.lanes.classical import _row_medians_u8, bev_channels

    cam = CameraModel(960, 540, 700.0, 700.0, 479.5, 269.5, height_m=1.5, pitch_rad=math.radians(2.0))
    proj = BevProjector(cam)
    x0, y0, x1, y1 = proj.source_window_px()
    assert 0 < y0 < 540 / 2 + 60 and (x1 - x0) * (y1 - y0) < 0.7 * 960 * 540  # the sky and far sides are not read
    frame = np.random.default_rng(0).integers(0, 256, (540, 960, 3), dtype=np.uint8)
    frame = cv2.GaussianBlur(frame, (9, 9), 0)  # some texture at the scale of the blur
    lab = cv2.cvtColor(cv2.GaussianBlur(frame, (5, 5), 0), cv2.COLOR_BGR2LAB)
    luma, yellow = bev_channels(proj, frame, blur_px=5)  # 5 px at 1280 -> a 5 px kernel at 960 (odd)
    assert np.array_equal(luma, proj.warp(lab[..., 0]).astype(np.float32))
    assert np.array_equal(yellow, proj.warp(lab[..., 2]).astype(np.float32))
    with pytest.raises(ValueError, match="camera is 960x540"):
        bev_channels(proj, frame[:500], blur_px=5)
    # per-row medians of the seen BEV pixels by counting equal numpy's, odd and even counts alike
    expected = np.nanmedian(np.where(proj.valid, luma, np.nan)[proj.valid_rows], axis=1)
    assert np.array_equal(_row_medians_u8(luma, proj)[proj.valid_rows], expected.astype(np.float32))
    from types import SimpleNamespace

    values = np.random.default_rng(1).integers(0, 256, (50, 37)).astype(np.float32)
    use = np.random.default_rng(2).random((50, 37)) < 0.5
    use[:, 0] = True
    assert (use.sum(axis=1) % 2 == 0).any() and (use.sum(axis=1) % 2 == 1).any()
    seen = SimpleNamespace(valid_flat_index=np.flatnonzero(use), valid_flat_row=np.flatnonzero(use) // 37)
    expected = np.nanmedian(np.where(use, values, np.nan), axis=1)
    assert np.array_equal(_row_medians_u8(values, seen), expected.astype(np.float32))


def test_polylines_end_on_the_frame_border_where_lines_leave_it():
    """A line from below the bottom row (and one leaving through the left side) is drawn right to the border:
    a polyline ending at its last sample inside lost TuSimple points in the bottom rows."""
    cam = CameraModel(640, 360, 400.0, 400.0, 319.5, 179.5, height_m=1.3, pitch_rad=math.radians(3.0))
    proj = BevProjector(cam)
    ego = polyline_px(proj, np.array([1.8, 0.0, 0.0]), 0.5 * proj.x_of_bottom_row(), 60.0)
    assert ego[0, 1] == pytest.approx(359.0, abs=1e-3) and ego[1, 1] < 359.0  # bottom row, then upwards
    neighbour = polyline_px(proj, np.array([5.4, 0.0, 0.0]), 0.5 * proj.x_of_bottom_row(), 60.0)
    assert neighbour[0, 0] == pytest.approx(0.0, abs=1e-3) and 0 < neighbour[0, 1] < 359  # the left side
    # Points in between are the samples themselves, all inside the frame.
    assert np.all((neighbour >= 0) & (neighbour <= [639, 359]))
    assert len(polyline_px(proj, np.array([80.0, 0.0, 0.0]), 5.0, 60.0)) == 0  # never in view


def test_sides_nearest_lines_and_plausible_neighbours():
    assert assign_sides([5.4, 1.8, -1.8, -5.4]) == ["left_left", "ego_left", "ego_right", "right_right"]
    # A second line 0.3 m beside the ego line (double marking) is not a neighbour lane.
    assert assign_sides([1.8, 2.1, -1.8]) == ["ego_left", None, "ego_right"]
    # Sticky signs keep a line that has just passed under the car on its old side.
    assert assign_sides([-0.1, -3.7], sticky_sign=[1, -1]) == ["ego_left", "ego_right"]


def _obs(c0: float, c2: float = 0.0) -> LineObservation:
    return LineObservation(coef=np.array([c0, 0.0, c2]), cov=np.diag([1e-3, 1e-5, 1e-9]), x_near_m=5.0,
                           x_far_m=40.0, support=1.0)


def test_tracker_confirms_holds_then_drops_and_keeps_ids():
    tracker = LaneTracker(TrackerConfig(confirm_hits=3, hold_s=0.5))
    t = 0.0
    for _ in range(3):
        out = tracker.update([_obs(1.8), _obs(-1.8)], t)
        t += 0.04
    assert [s for s in out.sides] == ["ego_left", "ego_right"]
    ids = [trk.id for trk in out.tracks]
    for _ in range(10):  # 0.4 s without the left line: held, same id, flagged held
        out = tracker.update([_obs(-1.8)], t)
        t += 0.04
    assert [trk.id for trk in out.tracks] == ids and out.held == [True, False]
    for _ in range(5):  # past hold_s: dropped
        out = tracker.update([_obs(-1.8)], t)
        t += 0.04
    assert [trk.id for trk in out.tracks] == [ids[1]]


def test_tracker_reports_a_lane_change_when_a_line_passes_under_the_car():
    tracker = LaneTracker(TrackerConfig(confirm_hits=2))
    events = []
    for i in range(60):  # the car moves right by 3.6 m in 2.4 s: every line moves left
        shift = 3.6 * min(i / 60, 1.0)
        out = tracker.update([_obs(1.8 + shift), _obs(-1.8 + shift), _obs(-5.4 + shift)], i * 0.04)
        events += [out.lane_change] if out.lane_change else []
    assert events == ["right"]
    assert [s for s in out.sides] == ["left_left", "ego_left", "ego_right"]


def test_hud_lines_read_the_ego_block():
    ego = {"geometry": "default_mounting", "lines": "both", "lane_offset_m": -0.12, "lane_width_m": 3.6,
           "curvature_radius_m": 500.0, "curvature_1pm": -0.002, "lane_change": "left"}
    lines = hud_lines(ego)
    assert lines[0].startswith("lane offset 0.12 m left") and "R 500 m right" in lines[0]
    assert lines[1] == "LANE CHANGE LEFT"
    assert hud_lines(None) == []
