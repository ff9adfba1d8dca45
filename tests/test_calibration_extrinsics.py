"""Pitch and yaw from lane-line vanishing points: synthetic sequences with known answers, a real video, the CLI."""

from __future__ import annotations

import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from calibration import CameraModel, camera_from_road_rotation, load_camera, pixel_from_road, save_camera_opencv
from calibration.extrinsics import get_args_parser, main
from calibration.pitch_yaw import estimate_pitch_yaw, pitch_yaw_from_vanishing_point
from calibration.synthetic import LaneScene, render_lane_scene
from calibration.vanishing import detect_vanishing_point

REPO = Path(__file__).resolve().parents[1]
VIDEO = Path(__file__).resolve().parents[2] / "shared" / "data" / "udacity_lanelines_p1" / "solidWhiteRight.mp4"

PINHOLE = CameraModel(640, 360, 560.0, 560.0, 319.5, 179.5)
DISTORTED = CameraModel(640, 360, 580.0, 578.0, 324.0, 176.0, (-0.27, 0.12, 0.0, 0.0, -0.24))


def _sequence(camera: CameraModel, n_frames: int = 6) -> list[np.ndarray]:
    """A car driving along a straight lane, weaving a little: dashes move, the lane shifts sideways."""
    return [
        render_lane_scene(camera, LaneScene(), travelled_m=2.7 * i, lateral_offset_m=0.3 * math.sin(i), seed=i)
        for i in range(n_frames)
    ]


def test_vanishing_point_to_angles_inverts_the_projection():
    cam = PINHOLE.with_mounting(height_m=1.5, pitch_rad=math.radians(3.0), yaw_rad=math.radians(-2.0), roll_rad=0.01)
    direction = cam.K @ camera_from_road_rotation(cam.pitch_rad, cam.yaw_rad, cam.roll_rad) @ [1.0, 0.0, 0.0]
    vp = direction[:2] / direction[2]  # the image of road +x at infinity
    np.testing.assert_allclose(vp, pixel_from_road(cam, np.array([[1e9, 0.0]]))[0], atol=1e-3)
    pitch, yaw = pitch_yaw_from_vanishing_point(cam, vp)
    assert math.degrees(pitch) == pytest.approx(3.0, abs=1e-6)
    assert math.degrees(yaw) == pytest.approx(-2.0, abs=1e-6)


@pytest.mark.parametrize(
    "base, pitch_deg, yaw_deg",
    [(PINHOLE, 0.0, 0.0), (PINHOLE, 3.0, -2.0), (PINHOLE, -1.5, 4.0), (DISTORTED, 2.0, 1.5), (DISTORTED, 5.0, -3.0)],
)
def test_synthetic_sequence_recovers_pitch_and_yaw_within_half_a_degree(base, pitch_deg, yaw_deg):
    truth = base.with_mounting(height_m=1.4, pitch_rad=math.radians(pitch_deg), yaw_rad=math.radians(yaw_deg))
    estimate = estimate_pitch_yaw(_sequence(truth), base)  # the estimator is not told the mounting
    assert estimate.frames_used >= 5
    assert abs(estimate.pitch_deg - pitch_deg) < 0.5
    assert abs(estimate.yaw_deg - yaw_deg) < 0.5


def test_frames_without_lanes_are_rejected_with_a_reason_and_do_not_bias_the_estimate():
    truth = PINHOLE.with_mounting(height_m=1.4, pitch_rad=math.radians(2.0), yaw_rad=math.radians(1.0))
    empty_road = render_lane_scene(truth, LaneScene(x_near_m=500.0, x_far_m=501.0))  # no markings in view
    frames = _sequence(truth, 4) + [empty_road, np.zeros_like(empty_road)] + _sequence(truth, 3)
    estimate = estimate_pitch_yaw(frames, PINHOLE)
    assert estimate.frames_read == 9
    assert not estimate.frames[4].used and not estimate.frames[5].used
    assert estimate.frames[5].reason == "too few lane segments"
    assert sum(estimate.rejected.values()) == estimate.frames_read - estimate.frames_used
    assert abs(estimate.pitch_deg - 2.0) < 0.5 and abs(estimate.yaw_deg - 1.0) < 0.5
    assert not estimate.converged  # 7 good frames are fewer than the 20 needed to call it converged


def test_vanishing_point_needs_lines_on_both_sides():
    truth = PINHOLE.with_mounting(height_m=1.4)
    frame = render_lane_scene(truth)
    frame[:, : PINHOLE.width_px // 2] = 90  # paint over the left half: only right-side lines remain
    vp = detect_vanishing_point(frame, PINHOLE)
    assert vp.uv_px is None and vp.reason


# ------------------------------------------------------------------------------------- real video
@pytest.fixture(scope="module")
def video_run(tmp_path_factory):
    if not VIDEO.is_file():
        pytest.skip(f"dashcam clip not found at {VIDEO} (shared data absent)")
    out = tmp_path_factory.mktemp("extrinsics") / "camera.yaml"
    proc = subprocess.run(
        [sys.executable, "-m", "calibration.extrinsics", "--video", str(VIDEO), "--camera", "default",
         "--height-m", "1.3", "--output", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    return proc, out


def test_udacity_clip_converges_to_a_plausible_mounting(video_run):
    """No ground truth for this clip: check that the estimate is stable and physically plausible."""
    proc, out = video_run
    assert proc.returncode == 0, proc.stderr
    used, read = map(int, re.search(r"frames used (\d+) of (\d+)", proc.stdout).groups())
    assert read == 221 and used >= 150  # lane lines are visible in nearly every frame
    assert "converged: yes" in proc.stdout
    pitch = re.search(r"pitch ([-+][0-9.]+) deg \(spread ([0-9.]+)", proc.stdout)
    yaw = re.search(r"yaw +([-+][0-9.]+) deg \(spread ([0-9.]+)", proc.stdout)
    assert abs(float(pitch.group(1))) < 5.0 and abs(float(yaw.group(1))) < 5.0
    assert float(pitch.group(2)) < 0.5 and float(yaw.group(2)) < 0.5  # per-frame scatter, robust sigma
    camera = load_camera(out)
    assert camera.height_m == 1.3 and camera.image_size_wh == (960, 540)
    assert math.degrees(camera.pitch_rad) == pytest.approx(float(pitch.group(1)), abs=0.006)
    assert math.degrees(camera.yaw_rad) == pytest.approx(float(yaw.group(1)), abs=0.006)


# ------------------------------------------------------------------------------------- bad input
def _run_main(argv: list[str], capsys) -> tuple[int, str]:
    code = main(get_args_parser().parse_args(argv))
    return code, capsys.readouterr().err


def test_missing_video(tmp_path, capsys):
    code, err = _run_main(["--video", str(tmp_path / "none.mp4"), "--camera", "default"], capsys)
    assert code == 2 and err.startswith("error: ") and "no such file" in err and err.count("\n") == 1


def test_bad_camera_file(tmp_path, capsys):
    if not VIDEO.is_file():
        pytest.skip(f"dashcam clip not found at {VIDEO} (shared data absent)")
    bad = tmp_path / "cam.yaml"
    bad.write_text("image_width: 960\n")
    code, err = _run_main(["--video", str(VIDEO), "--camera", str(bad)], capsys)
    assert code == 2 and str(bad) in err and "camera_matrix" in err and err.count("\n") == 1


def test_camera_file_of_another_aspect_ratio_is_refused(tmp_path, capsys):
    if not VIDEO.is_file():
        pytest.skip(f"dashcam clip not found at {VIDEO} (shared data absent)")
    save_camera_opencv(CameraModel(640, 480, 500.0, 500.0, 319.5, 239.5), tmp_path / "cam.yaml")
    code, err = _run_main(["--video", str(VIDEO), "--camera", str(tmp_path / "cam.yaml")], capsys)
    assert code == 2 and "aspect ratio" in err
