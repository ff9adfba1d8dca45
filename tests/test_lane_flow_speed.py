"""Ego speed from the motion of dashed lane markings: synthetic drives with a known speed, the dashcam clip, and
the planner's choice of speed (log, then lane flow, then the assumed one)."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from calibration import default_camera
from perception.geometry import first_frames
from perception.lanes import make_lane_stage
from perception.lanes.metrics import run_stage
from perception.lanes.synthetic import SyntheticRoad, drive
from perception.planning.policy import load_policy
from perception.planning.stage import PlanningStage
from perception.results import FrameResult
from perception.sources import open_source
from conftest import CLIP, need

SIZE = (960, 540)
TRUE_CAMERA = default_camera(*SIZE).with_mounting(height_m=1.4, pitch_rad=math.radians(2.0))


def run_lanes(frames, camera=TRUE_CAMERA, reset_each=False):
    stage = make_lane_stage(camera, SIZE, calibration_frames=[f.image_bgr for f in frames[:50]])

    def still(result, image):  # unrelated stills: the stage forgets every earlier frame
        stage.reset()
        stage(result, image)

    records = run_stage(still if reset_each else stage, [(f.timestamp_s, f.image_bgr) for f in frames])
    return [r.ego for r in records], stage.summary()


@pytest.mark.parametrize("speed_mps", [15.0, 30.0])
def test_the_speed_of_a_synthetic_drive_is_read_from_its_dashes(speed_mps):
    egos, summary = run_lanes(list(drive(TRUE_CAMERA, 60, speed_mps=speed_mps)))
    speeds = [e["lane_flow_speed_mps"] for e in egos]
    assert sum(s is not None for s in speeds) >= 50  # from the sixth frame on (five estimates pooled)
    assert summary["frames_with_lane_flow_speed"] == sum(s is not None for s in speeds)
    assert speeds[-1] == pytest.approx(speed_mps, rel=0.03)
    assert 0 < egos[-1]["lane_flow_error_mps"] < 0.05 * speed_mps


def test_standing_still_reads_zero_and_a_road_without_dashes_gives_no_speed():
    egos, _ = run_lanes(list(drive(TRUE_CAMERA, 30, speed_mps=0.0)))
    assert egos[-1]["lane_flow_speed_mps"] == pytest.approx(0.0, abs=0.3)
    solid = SyntheticRoad(dash_length_m=12.0, dash_period_m=12.0)  # every line painted end to end
    egos, summary = run_lanes(list(drive(TRUE_CAMERA, 30, speed_mps=25.0, road=solid)))
    assert all(e["lines"] == "both" for e in egos[5:])  # the lines are there...
    assert summary["frames_with_lane_flow_speed"] == 0  # ...but nothing moves along them that could be followed
    assert all(e["lane_flow_speed_mps"] is None and e["lane_flow_error_mps"] is None for e in egos)


def test_unrelated_stills_and_gaps_between_frames_give_no_speed():
    frames = list(drive(TRUE_CAMERA, 20, speed_mps=25.0))
    egos, _ = run_lanes(frames, reset_each=True)  # stills: the stage is reset before each
    assert all(e["lane_flow_speed_mps"] is None for e in egos)
    sparse = [replace(f, timestamp_s=f.timestamp_s * 10) for f in frames]  # 0.4 s apart: a gap too long to follow
    egos, _ = run_lanes(sparse)
    assert all(e["lane_flow_speed_mps"] is None for e in egos)


def test_the_default_mounting_reads_the_speed_with_its_scale_error():
    """Without a camera file the metres, and so the speed, come from the default mounting: on these drives it
    reads high by a few percent (docs/history.md); the speed is still reported, the ego block says which geometry."""
    egos, _ = run_lanes(list(drive(TRUE_CAMERA, 60, speed_mps=25.0)), camera=None)
    assert egos[-1]["geometry"] == "default_mounting"
    assert 25.0 < egos[-1]["lane_flow_speed_mps"] < 25.0 * 1.12


def test_the_dashcam_clip_gets_a_highway_speed_on_most_frames():
    source = open_source(need(CLIP))
    fps = source.info.fps
    frames = first_frames(source, n=120)
    stage = make_lane_stage(None, (frames[0].shape[1], frames[0].shape[0]), calibration_frames=frames[:50])
    records = run_stage(stage, [(i / fps, image) for i, image in enumerate(frames)])
    seen = [r.ego["lane_flow_speed_mps"] for r in records if r.ego["lane_flow_speed_mps"] is not None]
    assert len(seen) >= 0.8 * len(frames)
    assert 20.0 < float(np.median(seen)) < 35.0  # a US interstate (no recorded speed: a plausibility bound)


@pytest.mark.parametrize("log_speed, flow_speed, use_flow, expect", [
    (21.0, 27.5, True, (21.0, "log")),
    (None, 27.5, True, (27.5, "lane_flow")),
    (None, None, True, (25.0, "assumed")),
    (None, 27.5, False, (25.0, "assumed")),
])
def test_the_planner_takes_the_logs_speed_then_lane_flow_then_the_assumed_one(log_speed, flow_speed, use_flow,
                                                                                expect):
    planner = PlanningStage(load_policy(), lane_flow_speed=use_flow)
    result = FrameResult(frame=0, timestamp_s=0.0)
    result.ego_speed_mps = log_speed
    result.ego = {"lane_flow_speed_mps": flow_speed}
    planner(result)
    assert (result.plan["ego_speed_mps"], result.plan["ego_speed_from"]) == expect
    assert planner.summary()["ego_speed_frames"][expect[1]] == 1


def test_the_hud_says_which_ego_speed_the_planner_used():
    from perception.pipeline.processing import plan_text

    result = FrameResult(frame=0, timestamp_s=0.0)
    result.plan = {"action": "IDLE", "vetoed": False, "ego_speed_mps": 27.4, "ego_speed_from": "lane_flow"}
    assert plan_text(result) == "IDLE  ego 27 m/s (lane flow)"
    result.plan["ego_speed_from"] = "assumed"
    assert plan_text(result).endswith("(assumed)")
