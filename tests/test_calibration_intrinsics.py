"""Chessboard calibration CLI on the Udacity chessboards, on synthetic boards with a known answer, and bad input."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from calibration import CameraModel, load_camera, save_camera_opencv, undistort_points
from calibration.chessboard import board_object_points, detect_board, parse_pattern
from calibration.errors import CalibrationError
from calibration.intrinsics import calibrate_folder, get_args_parser, main
from calibration.synthetic import render_chessboard

REPO = Path(__file__).resolve().parents[1]
CHESSBOARDS = Path(__file__).resolve().parents[2] / "shared" / "data" / "udacity_advanced_lane_lines" / "camera_cal"


def _need_chessboards() -> None:
    if not CHESSBOARDS.is_dir():
        pytest.skip(f"Udacity chessboard images not found at {CHESSBOARDS} (shared data absent)")


@pytest.fixture(scope="module")
def udacity_run(tmp_path_factory):
    """One run of the CLI on the 20 Udacity chessboards (the slow part, shared by the tests below)."""
    _need_chessboards()
    out = tmp_path_factory.mktemp("intrinsics")
    command = [
        sys.executable, "-m", "calibration.intrinsics", "--images", str(CHESSBOARDS), "--pattern", "9x6",
        "--output", str(out / "camera.yaml"), "--preview", str(out / "preview.png"),
    ]  # fmt: skip
    proc = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    rows = {}
    for line in proc.stdout.splitlines():
        cells = line.split()
        if cells and cells[0].startswith("calibration") and cells[0].endswith(".jpg"):
            rows[cells[0]] = line
    return proc, out, rows


def test_udacity_calibration_meets_the_target(udacity_run):
    proc, out, rows = udacity_run
    assert proc.returncode == 0, proc.stderr
    assert len(rows) == 20  # one table row per image
    summary = re.search(r"used (\d+) of (\d+) images, RMS reprojection error ([0-9.]+) px", proc.stdout)
    assert summary, proc.stdout
    used, total, rms = int(summary.group(1)), int(summary.group(2)), float(summary.group(3))
    assert total == 20 and used >= 17
    assert rms <= 1.0
    assert sum(" used " in row for row in rows.values()) == used
    for row in rows.values():
        if " rejected " in row:
            assert len(row.split()) > 6, f"rejected without a reason: {row}"


def test_udacity_odd_sized_and_cut_off_boards_are_handled_and_reported(udacity_run):
    _, _, rows = udacity_run
    for name in ("calibration7.jpg", "calibration15.jpg"):  # 1281x721 among 1280x720
        assert "1281x721" in rows[name] and " used " in rows[name] and "cropped" in rows[name]
    assert " used " in rows["calibration1.jpg"] and "partial board: 9x5" in rows["calibration1.jpg"]


def test_udacity_camera_file_loads_back_identically(udacity_run, tmp_path):
    _, out, _ = udacity_run
    camera = load_camera(out / "camera.yaml")
    assert camera.image_size_wh == (1280, 720) and len(camera.dist_coeffs) == 5
    assert 1100 < camera.fx < 1220 and abs(camera.fx / camera.fy - 1) < 0.01  # ~60 deg HFOV, square pixels
    assert abs(camera.cx - 639.5) < 40 and abs(camera.cy - 359.5) < 40
    assert camera.dist_coeffs[0] < -0.1  # strong barrel distortion, visible in the images
    save_camera_opencv(camera, tmp_path / "again.yaml")
    assert load_camera(tmp_path / "again.yaml") == camera
    fs = cv2.FileStorage(str(out / "camera.yaml"), cv2.FILE_STORAGE_READ)  # and OpenCV reads the same numbers
    try:
        assert fs.getNode("camera_matrix").mat().tobytes() == camera.K.tobytes()
        assert fs.getNode("distortion_coefficients").mat().reshape(-1).tobytes() == camera.dist.tobytes()
    finally:
        fs.release()


def test_udacity_undistortion_makes_the_board_look_flat(udacity_run):
    """A flat board seen by a pinhole camera is a homography of the board grid. In the raw image the corners
    of calibration2.jpg are ~5 px off the best homography (barrel distortion); undistorted they are ~1 px off
    (what is left is mostly the paper not being flat)."""
    _, out, _ = udacity_run
    camera = load_camera(out / "camera.yaml")
    gray = cv2.imread(str(CHESSBOARDS / "calibration2.jpg"), cv2.IMREAD_GRAYSCALE)
    detection = detect_board(gray, (9, 6))
    assert detection is not None and detection.pattern_cols_rows == (9, 6)
    board_xy = board_object_points((9, 6))[:, :2].astype(np.float64)

    def homography_rms_px(points: np.ndarray) -> float:
        h, _ = cv2.findHomography(board_xy, points)
        fitted = cv2.perspectiveTransform(board_xy.reshape(-1, 1, 2), h).reshape(-1, 2)
        return float(np.sqrt(np.mean(np.sum((fitted - points) ** 2, axis=1))))

    raw = detection.corners_px.astype(np.float64)
    before, after = homography_rms_px(raw), homography_rms_px(undistort_points(camera, raw))
    assert before > 4.0
    assert after < 1.5 and after < 0.3 * before


def test_udacity_preview_shows_original_and_undistorted(udacity_run):
    _, out, _ = udacity_run
    preview = cv2.imread(str(out / "preview.png"))
    assert preview is not None and preview.shape == (450, 1600, 3)  # two 1280x720 panels, scaled to 1600 wide
    left, right = preview[:, :800].astype(int), preview[:, 800:].astype(int)
    assert np.abs(left - right).mean() > 5  # the undistorted half differs


# ------------------------------------------------------------------------------------- known answer
TRUTH = CameraModel(640, 480, 520.0, 518.0, 322.0, 236.0, (-0.28, 0.09, 0.0005, -0.0003, 0.0))
POSES = [  # (rvec, tvec in metres) of a 10x7-square, 25 mm board filling much of the view
    ((0.0, 0.0, 0.0), (-0.10, -0.06, 0.32)),
    ((0.5, 0.0, 0.1), (-0.10, -0.06, 0.36)),
    ((-0.5, 0.1, 0.0), (-0.12, -0.06, 0.34)),
    ((0.0, 0.5, 0.0), (-0.10, -0.06, 0.34)),
    ((0.0, -0.5, -0.1), (-0.14, -0.07, 0.36)),
    ((0.3, 0.3, 0.2), (-0.02, -0.03, 0.36)),
    ((-0.3, -0.3, 0.0), (-0.20, -0.10, 0.36)),
    ((0.2, -0.3, 0.0), (-0.05, -0.14, 0.33)),
]


def test_synthetic_boards_recover_the_true_camera(tmp_path):
    for k, (rvec, tvec) in enumerate(POSES):
        image = render_chessboard(TRUTH, (9, 6), 0.025, np.array(rvec), np.array(tvec))
        noise = np.random.default_rng(k).normal(0.0, 2.0, image.shape)
        cv2.imwrite(str(tmp_path / f"board{k}.png"), np.clip(image + noise, 0, 255).astype(np.uint8))
    cv2.imwrite(str(tmp_path / "blank.png"), np.full((480, 640), 128, np.uint8))  # no board in it
    result = calibrate_folder(tmp_path, (9, 6), 25.0, jobs=2)
    assert result.used_count == 8 and result.rms_px < 0.3
    blank = next(r for r in result.images if r.name == "blank.png")
    assert not blank.used and blank.reason == "no chessboard found"
    cam = result.camera
    assert abs(cam.fx / TRUTH.fx - 1) < 0.01 and abs(cam.fy / TRUTH.fy - 1) < 0.01
    assert abs(cam.cx - TRUTH.cx) < 3 and abs(cam.cy - TRUTH.cy) < 3
    grid = np.array([[u, v] for u in np.linspace(64, 576, 9) for v in np.linspace(48, 432, 9)])
    error = np.linalg.norm(undistort_points(cam, grid) - undistort_points(TRUTH, grid), axis=1)
    assert error.max() < 2.0  # the recovered undistortion matches the truth over 80 % of the image


# ------------------------------------------------------------------------------------- bad input
def _args(images: str | Path, pattern: str, output: str | Path) -> list[str]:
    return ["--images", str(images), "--pattern", pattern, "--output", str(output)]


def _run_main(argv: list[str], capsys) -> tuple[int, str, str]:
    code = main(get_args_parser().parse_args(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _assert_one_line_error(code: int, err: str, fragment: str) -> None:
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], err
    assert "Traceback" not in err


def test_missing_folder(tmp_path, capsys):
    code, _, err = _run_main(_args(str(tmp_path / "nope"), "9x6", str(tmp_path / "c.yaml")), capsys)
    _assert_one_line_error(code, err, "no such folder")


def test_folder_without_images(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("no images here")
    code, _, err = _run_main(_args(str(tmp_path), "9x6", str(tmp_path / "c.yaml")), capsys)
    _assert_one_line_error(code, err, "no images")


@pytest.mark.parametrize("pattern", ["9by6", "9x", "2x6", "x6", ""])
def test_bad_pattern(tmp_path, capsys, pattern):
    code, _, err = _run_main(_args(str(tmp_path), pattern, str(tmp_path / "c.yaml")), capsys)
    _assert_one_line_error(code, err, "bad pattern")
    with pytest.raises(CalibrationError):
        parse_pattern(pattern)


def test_fewer_than_three_boards(tmp_path, capsys):
    for k in range(2):
        image = render_chessboard(TRUTH, (9, 6), 0.025, np.array(POSES[k][0]), np.array(POSES[k][1]))
        cv2.imwrite(str(tmp_path / f"board{k}.png"), image)
    cv2.imwrite(str(tmp_path / "blank.png"), np.full((480, 640), 128, np.uint8))
    code, _, err = _run_main(_args(str(tmp_path), "9x6", str(tmp_path / "c.yaml")), capsys)
    _assert_one_line_error(code, err, "only 2 of 3 images")
    assert not (tmp_path / "c.yaml").exists()


def test_output_folder_missing(tmp_path, capsys):
    code, _, err = _run_main(_args(tmp_path, "9x6", tmp_path / "no" / "c.yaml"), capsys)
    _assert_one_line_error(code, err, "does not exist")


def test_cli_process_exits_2_without_traceback(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "calibration.intrinsics", "--images", str(tmp_path / "nope"), "--pattern", "9x6",
         "--output", str(tmp_path / "c.yaml")],
        cwd=REPO, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "Traceback" not in proc.stderr
