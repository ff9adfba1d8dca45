"""``--camera``: undistortion + distances on the real clip, and bad camera files."""

from __future__ import annotations

import json
import math

from conftest import CLIP, need, run_cli


def _camera_file(tmp_path, *, mounting: bool):
    from calibration import default_camera, save_camera_opencv

    cam = default_camera(960, 540)
    if mounting:
        cam = cam.with_mounting(height_m=1.5, pitch_rad=math.radians(2.0), yaw_rad=0.0, roll_rad=0.0)
    path = tmp_path / "camera.yaml"
    save_camera_opencv(cam, path)
    return path, cam


def test_camera_with_mounting_fills_distance(tmp_path):
    clip = need(CLIP)
    cam_path, cam = _camera_file(tmp_path, mounting=True)
    out = tmp_path / "out"
    proc = run_cli("perception.run", "--video", str(clip), "--camera", str(cam_path), "--output", str(out),
                   "--max-frames", "5", "--conf", "0.01", "--no-progress", "--no-video")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["calibration"]["distances"] is True
    assert summary["calibration"]["mounting"]["height_m"] == 1.5
    from calibration.ground import horizon_v_px

    horizon = horizon_v_px(cam)
    n_with, n_below = 0, 0
    for line in (out / "frames.jsonl").read_text().splitlines():
        for det in json.loads(line)["detections"]:
            bottom = det["box_xyxy"][3] - 0.5
            if bottom > horizon + 1:
                n_below += 1
                assert det["distance_m"] is not None and det["distance_m"] > 0
                n_with += 1
            elif bottom < horizon - 1:
                assert det["distance_m"] is None  # above the horizon: not on the road
    assert n_below > 0 and n_with == n_below


def test_camera_without_mounting_leaves_distance_null(tmp_path):
    clip = need(CLIP)
    cam_path, _ = _camera_file(tmp_path, mounting=False)
    out = tmp_path / "out"
    proc = run_cli("perception.run", "--video", str(clip), "--camera", str(cam_path), "--output", str(out),
                   "--max-frames", "3", "--conf", "0.01", "--no-progress", "--no-video")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["calibration"]["distances"] is False
    for line in (out / "frames.jsonl").read_text().splitlines():
        assert all(d["distance_m"] is None for d in json.loads(line)["detections"])


def test_bad_camera_file_is_one_line_exit_2(tmp_path):
    clip = need(CLIP)
    bad = tmp_path / "camera.yaml"
    bad.write_text("%YAML:1.0\nimage_width: 960\ncamera_matrix: [1, 2\n")
    proc = run_cli("perception.run", "--video", str(clip), "--camera", str(bad), "--output", str(tmp_path / "o"))
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "camera.yaml" in lines[0] and "Traceback" not in proc.stderr
