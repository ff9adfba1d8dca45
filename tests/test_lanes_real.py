"""The lane stage on real frames: the shared dashcam clip (no labels) and the LaneNet TuSimple frames (labels).

The clip runs with the documented default mounting (no camera file): 60 degree field of view, 1.5 m height,
pitch/yaw from the lane vanishing point of the first 50 frames.
"""

from __future__ import annotations

from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from perception.geometry import first_frames, make_lane_enricher
from perception.lanes import detect_image_lanes, make_lane_stage
from perception.lanes.metrics import run_stage, tusimple_accuracy, video_stats

from conftest import CLIP, SHARED_DATA, need

LANENET = SHARED_DATA / "tusimple_lanenet_masks" / "data" / "training_data_example"


@pytest.fixture(scope="module")
def clip_frames() -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(need(CLIP)))
    frames = []
    while len(frames) < 60:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    assert len(frames) == 60
    return frames


@pytest.fixture(scope="module")
def clip_run(clip_frames):
    stage = make_lane_stage(None, (960, 540), calibration_frames=clip_frames[:50])
    records = run_stage(stage, [(i / 25.0, f) for i, f in enumerate(clip_frames)])
    return stage, records


def test_clip_has_both_ego_lines_steady_offset_and_stable_ids(clip_run):
    stage, records = clip_run
    stats = video_stats(records)
    assert stats["both_ego_share"] >= 0.9
    assert stats["offset_jitter_m"] <= 0.05
    assert stats["id_flips"] == 0
    assert stats["lane_changes"] == []  # the car keeps its lane in this clip
    assert abs(stats["offset_mean_m"]) < 0.6  # near the lane centre
    assert 3.0 <= stats["lane_width_median_m"] <= 5.5  # metres are only roughly right with the default mounting


def test_searching_near_the_last_road_model_gives_the_lanes_of_the_full_search(clip_frames, clip_run):
    """The video default searches the whole grid every 10th frame only (half the time): the ego lane it reports
    stays within 2 cm of searching the whole grid on every frame."""
    from perception.lanes import LaneStageConfig

    _, local = clip_run
    stage = make_lane_stage(None, (960, 540), calibration_frames=clip_frames[:50],
                            config=LaneStageConfig(full_search_every=1))
    full = run_stage(stage, [(i / 25.0, f) for i, f in enumerate(clip_frames)])
    assert LaneStageConfig().full_search_every > 1
    for a, b in zip(local, full):
        assert (a.ego.get("lane_offset_m") is None) == (b.ego.get("lane_offset_m") is None)
        if a.ego.get("lane_offset_m") is not None:
            assert abs(a.ego["lane_offset_m"] - b.ego["lane_offset_m"]) < 0.02
            assert abs(a.ego["lane_width_m"] - b.ego["lane_width_m"]) < 0.02


def test_clip_reports_the_default_mounting(clip_run):
    stage, records = clip_run
    assert all(r.ego["geometry"] == "default_mounting" for r in records)
    mounting = stage.summary()["mounting"]
    assert mounting["height_m"] == 1.5 and mounting["pitch_yaw_source"] == "vanishing_point"
    assert -6.0 < mounting["pitch_deg"] < 6.0


def test_lane_polylines_are_in_original_pixels_bottom_to_top(clip_frames):
    from perception.results import FrameResult

    stage = make_lane_stage(None, (960, 540), calibration_frames=clip_frames[:50])
    for i, frame in enumerate(clip_frames[:5]):
        result = FrameResult(frame=i, timestamp_s=i / 25.0)
        stage(result, frame)
    sides = [lane.side for lane in result.lanes]
    assert {"ego_left", "ego_right"} <= set(sides)
    for lane in result.lanes:
        pts = lane.points_xy
        assert np.all((pts[:, 0] >= 0) & (pts[:, 0] <= 959) & (pts[:, 1] >= 0) & (pts[:, 1] <= 539))
        assert pts[0, 1] > pts[-1, 1]  # bottom to top
    left = next(lane for lane in result.lanes if lane.side == "ego_left")
    right = next(lane for lane in result.lanes if lane.side == "ego_right")
    assert left.points_xy[0, 0] < 480 < right.points_xy[0, 0]  # on either side of the car at the bottom row


def test_lane_enricher_bridge_reads_ahead_and_can_be_off():
    from perception.sources import open_source

    frames = first_frames(open_source(need(CLIP)), n=10)
    assert len(frames) == 10 and frames[0].shape == (540, 960, 3)
    assert make_lane_enricher(None, (960, 540), "off") is None
    stage = make_lane_enricher(None, (960, 540), "classical", frames)
    assert stage.summary()["mounting"]["geometry"] == "default_mounting"


def test_classical_finder_on_the_lanenet_tusimple_frames():
    """Regression guard on the frames the classical thresholds were tuned on (see README: not a held-out score)."""
    from datasets import open_dataset

    reader = open_dataset("tusimple_lanenet", need(LANENET), "train")
    result = tusimple_accuracy((reader[i] for i in range(len(reader))), detect_image_lanes)
    assert result["images"] == 6
    assert result["tusimple_accuracy"] >= 0.75


@pytest.mark.parametrize("width", [1280, 512])
def test_still_lines_end_near_where_tusimple_labels_end(width, monkeypatch):
    """Scored with the benchmark's row accounting, lines that end LABEL_TOP_FRAC of the way below the horizon
    beat lines run on towards it (chosen on these frames, not a held-out score). Measured with the development
    script: 1280x720 0.935 -> 0.944, 512x288 JPEG q90 0.918 -> 0.932."""
    import perception.lanes.single as single
    from datasets import open_dataset

    reader = open_dataset("tusimple_lanenet", need(LANENET), "train")
    samples = [reader[i] for i in range(len(reader))]
    scale = width / 1280.0
    images = [s.image_bgr if width == 1280 else cv2.imdecode(cv2.imencode(
        ".jpg", cv2.resize(s.image_bgr, (512, 288), interpolation=cv2.INTER_AREA),
        [cv2.IMWRITE_JPEG_QUALITY, 90])[1], cv2.IMREAD_COLOR) for s in samples]
    scaled = [SimpleNamespace(image_bgr=im, width=im.shape[1], lanes=[np.asarray(g) * scale for g in s.lanes],
                              meta={"h_samples": np.asarray(s.meta["h_samples"]) * scale})
              for im, s in zip(images, samples)]
    shipped, score = single.LABEL_TOP_FRAC, {}
    assert shipped > 0
    for frac in (shipped, 0.0):
        monkeypatch.setattr(single, "LABEL_TOP_FRAC", frac)
        score[frac] = tusimple_accuracy(scaled, detect_image_lanes)["tusimple_accuracy"]
    assert score[shipped] >= score[0.0] + 0.005, score
