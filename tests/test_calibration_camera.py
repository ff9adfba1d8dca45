"""CameraModel, default camera, undistortion and camera files (OpenCV YAML/XML, ROS, KITTI)."""

from __future__ import annotations

import math
import pickle
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from calibration import (
    CalibrationError,
    CameraFileError,
    CameraModel,
    default_camera,
    distort_points,
    load_camera,
    load_kitti_calib,
    save_camera_opencv,
    save_camera_ros,
    undistort_points,
)

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
KITTI = DATA / "kitti_object_6frames" / "training"

# Numbers chosen to need all 17 significant digits (a lossy writer would change them).
CAMERA = CameraModel(
    width_px=1280,
    height_px=720,
    fx=1159.436050703117,
    fy=1156.5061958831116,
    cx=669.50152648411984,
    cy=389.0441648152011,
    dist_coeffs=(-0.27075519619399463, 0.12285407401977466, -9.7344938702977838e-05, -5.192307658012745e-05, 1e-300),
    height_m=1.4300000000000002,
    pitch_rad=0.1 + 0.2,
    yaw_rad=-1e-17,
    roll_rad=0.0012345678901234567,
    name='front: "narrow" <cam> & co',
)


# ---------------------------------------------------------------------------------------------- model
def test_matrices_and_sizes():
    assert CAMERA.K.dtype == np.float64 and CAMERA.K.shape == (3, 3)
    np.testing.assert_array_equal(CAMERA.K, [[CAMERA.fx, 0, CAMERA.cx], [0, CAMERA.fy, CAMERA.cy], [0, 0, 1]])
    assert CAMERA.dist.dtype == np.float64 and CAMERA.dist.shape == (5,)
    assert CAMERA.image_size_wh == (1280, 720)
    assert CAMERA.mounting_known


def test_camera_is_frozen_and_hashable():
    with pytest.raises(AttributeError):
        CAMERA.fx = 1.0  # type: ignore[misc]
    assert hash(CAMERA) == hash(CameraModel(**{f: getattr(CAMERA, f) for f in CAMERA.__dataclass_fields__}))


@pytest.mark.parametrize(
    "change",
    [
        {"width_px": 0},
        {"height_px": -5},
        {"width_px": 1280.5},
        {"fx": 0.0},
        {"fy": -1.0},
        {"cx": float("nan")},
        {"cy": float("inf")},
        {"dist_coeffs": (0.1, 0.2, 0.3)},
        {"dist_coeffs": (0.1, float("nan"), 0, 0, 0)},
        {"height_m": 0.0},
        {"height_m": float("nan")},
        {"pitch_rad": math.pi / 2},
        {"name": 3},
    ],
)
def test_invalid_values_raise_our_error(change):
    fields = {"width_px": 640, "height_px": 480, "fx": 500.0, "fy": 500.0, "cx": 320.0, "cy": 240.0, **change}
    with pytest.raises(CalibrationError):
        CameraModel(**fields)


def test_all_zero_distortion_means_none():
    cam = CameraModel(640, 480, 500.0, 500.0, 319.5, 239.5, dist_coeffs=np.zeros(5))
    assert cam.dist_coeffs == () and not cam.has_distortion
    assert cam == CameraModel(640, 480, 500.0, 500.0, 319.5, 239.5)


def test_with_mounting_returns_a_new_camera():
    cam = default_camera(640, 360)
    mounted = cam.with_mounting(height_m=1.5, pitch_rad=0.02)
    assert not cam.mounting_known and mounted.mounting_known
    assert (mounted.height_m, mounted.pitch_rad, mounted.yaw_rad) == (1.5, 0.02, 0.0)
    assert mounted.with_mounting(yaw_rad=0.1).pitch_rad == 0.02  # unspecified values are kept


def test_scaled_to_matches_cv2_resize():
    """A blob moves under cv2.resize exactly as the scaled camera's pixel mapping says (pixel-centre rule)."""
    cam = CameraModel(640, 480, 500.0, 510.0, 300.25, 250.75)
    small = cam.scaled_to(320, 240)
    assert (small.fx, small.fy) == (250.0, 255.0)
    image = np.zeros((480, 640), np.float32)
    image[200:210, 101:111] = 1.0  # 10x10 blob (even size: 2x2 area averaging keeps its centroid exact)
    centre_src = np.array([105.5, 204.5])  # (u, v) of its centroid, pixel-centre coordinates
    shrunk = cv2.resize(image, (320, 240), interpolation=cv2.INTER_AREA)
    vv, uu = np.mgrid[0:240, 0:320]
    centre_dst = np.array([(uu * shrunk).sum(), (vv * shrunk).sum()]) / shrunk.sum()
    normalised = (centre_src - (cam.cx, cam.cy)) / (cam.fx, cam.fy)  # the same viewing ray ...
    np.testing.assert_allclose(centre_dst, normalised * (small.fx, small.fy) + (small.cx, small.cy), atol=1e-9)
    assert cam.scaled_to(320, 240).scaled_to(640, 480) == cam


def test_default_camera_is_documented_guess():
    cam = default_camera(1280, 720)
    assert math.isclose(math.degrees(cam.hfov_rad), 60.0, abs_tol=1e-9)
    assert (cam.cx, cam.cy) == (639.5, 359.5)  # centre of the image in pixel-centre coordinates
    assert cam.fx == cam.fy and cam.dist_coeffs == ()
    assert not cam.mounting_known  # distances stay unknown until the user gives the mounting


def test_undistort_then_distort_is_identity_inside_the_image():
    cam = CameraModel(1280, 720, 1159.4, 1156.5, 669.5, 389.0, (-0.27, 0.12, -1e-4, -5e-5, -0.24))
    raw = np.array([[100.0, 80.0], [640.0, 360.0], [1200.0, 700.0], [30.0, 650.0]])
    ideal = undistort_points(cam, raw)
    assert np.abs(ideal - raw).max() > 10  # barrel distortion moves corner pixels outward a lot
    np.testing.assert_allclose(distort_points(cam, ideal), raw, atol=1e-3)


# ---------------------------------------------------------------------------------------------- files
@pytest.mark.parametrize(
    "name, save",
    [
        ("cam.yaml", save_camera_opencv),
        ("cam.xml", save_camera_opencv),
        ("cam.json", save_camera_opencv),
        ("cam_ros.yaml", save_camera_ros),
    ],
)
@pytest.mark.parametrize("camera", [CAMERA, default_camera(640, 360), CAMERA.with_mounting(height_m=2.0)])
def test_save_then_load_is_bit_identical(tmp_path, name, save, camera):
    path = tmp_path / name
    save(camera, path)
    loaded = load_camera(path)
    assert loaded == camera  # dataclass equality compares every float exactly
    assert loaded.K.tobytes() == camera.K.tobytes() and loaded.dist.tobytes() == camera.dist.tobytes()


def test_unmounted_camera_file_has_no_mounting_keys(tmp_path):
    save_camera_opencv(default_camera(640, 360), tmp_path / "c.yaml")
    text = (tmp_path / "c.yaml").read_text()
    assert "pitch_rad" not in text and "camera_height_m" not in text


def test_our_opencv_file_reads_the_same_in_cv2_filestorage(tmp_path):
    save_camera_opencv(CAMERA, tmp_path / "c.yaml", extra={"avg_reprojection_error": 0.5})
    fs = cv2.FileStorage(str(tmp_path / "c.yaml"), cv2.FILE_STORAGE_READ)
    try:
        assert fs.getNode("camera_matrix").mat().tobytes() == CAMERA.K.tobytes()
        assert fs.getNode("distortion_coefficients").mat().reshape(-1).tobytes() == CAMERA.dist.tobytes()
        assert int(fs.getNode("image_width").real()) == 1280
        assert fs.getNode("camera_height_m").real() == CAMERA.height_m
        assert fs.getNode("camera_name").string() == CAMERA.name
    finally:
        fs.release()


OPENCV4_SAMPLE = """%YAML:1.0
---
calibration_time: "Mon 01 Jan 2024"
nframes: 19
image_width: 1280
image_height: 720
flags: 0
camera_matrix: !!opencv-matrix
   rows: 3
   cols: 3
   dt: d
   data: [ 1.1594360507031170e+03, 0., 6.6950152648411984e+02, 0.,
       1.1565061958831116e+03, 3.8904416481520110e+02, 0., 0., 1. ]
distortion_coefficients: !!opencv-matrix
   rows: 5
   cols: 1
   dt: d
   data: [ -2.7075519619399463e-01, 1.2285407401977466e-01,
       -9.7344938702977838e-05, -5.1923076580127450e-05,
       -2.4099353699338746e-01 ]
avg_reprojection_error: 9.0975142813892562e-01
"""


def test_reads_opencv4_calibration_sample_output(tmp_path):
    """The layout of OpenCV 4's calibration sample (``%YAML:1.0`` header, Nx1 distortion, extra keys)."""
    path = tmp_path / "opencv4.yml"
    path.write_text(OPENCV4_SAMPLE)
    cam = load_camera(path)
    assert cam.image_size_wh == (1280, 720)
    assert cam.fx == 1159.436050703117 and cam.cy == 389.0441648152011
    assert cam.dist_coeffs[4] == -0.24099353699338746
    assert not cam.mounting_known


ROS_SAMPLE = """image_width: 640
image_height: 480
camera_name: narrow_stereo
camera_matrix:
  rows: 3
  cols: 3
  data: [430.215550, 0.000000, 306.691343, 0.000000, 430.531693, 227.224800, 0.000000, 0.000000, 1.000000]
distortion_model: plumb_bob
distortion_coefficients:
  rows: 1
  cols: 5
  data: [-0.337586, 0.111215, -0.000458, -0.000272, 0.000000]
rectification_matrix:
  rows: 3
  cols: 3
  data: [1.000000, 0.000000, 0.000000, 0.000000, 1.000000, 0.000000, 0.000000, 0.000000, 1.000000]
projection_matrix:
  rows: 3
  cols: 4
  data: [356.26, 0.0, 302.5, 0.0, 0.0, 383.3, 227.4, 0.0, 0.0, 0.0, 1.0, 0.0]
"""


def test_reads_ros_camera_info(tmp_path):
    path = tmp_path / "ost.yaml"
    path.write_text(ROS_SAMPLE)
    cam = load_camera(path)
    assert (cam.width_px, cam.fx, cam.cy, cam.name) == (640, 430.21555, 227.2248, "narrow_stereo")
    assert cam.dist_coeffs == (-0.337586, 0.111215, -0.000458, -0.000272, 0.0)


def _assert_file_error(path: Path, *fragments: str) -> None:
    with pytest.raises(CameraFileError) as info:
        load_camera(path)
    message = str(info.value)
    assert str(path) in message and "\n" not in message
    for fragment in fragments:
        assert fragment in message


def test_missing_file_and_folder(tmp_path):
    _assert_file_error(tmp_path / "nope.yaml", "no such file")
    _assert_file_error(tmp_path, "folder")


@pytest.mark.parametrize(
    "content, fragments",
    [
        (b"", ["empty"]),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", ["not a text file"]),
        (b"\xff\xfe\xfa garbage", ["UTF-8"]),
        (b"[1, 2, 3]\n", ["not a camera file"]),
        (ROS_SAMPLE.replace("image_width: 640\n", "").encode(), ["image_width"]),
        (
            ROS_SAMPLE.replace("rows: 3\n  cols: 3\n  data: [430", "rows: 2\n  cols: 3\n  data: [430").encode(),
            ["camera_matrix", "2x3"],
        ),
        (ROS_SAMPLE.replace("plumb_bob", "equidistant").encode(), ["distortion_model", "equidistant"]),
        (ROS_SAMPLE.replace("0.000000, 306.691343", "1.5, 306.691343").encode(), ["skew"]),
        (ROS_SAMPLE.replace("430.215550", "-430.2").encode(), ["fx"]),
        (ROS_SAMPLE[: ROS_SAMPLE.index("camera_matrix") + 40].encode(), ["not valid YAML", "line 7"]),
        (OPENCV4_SAMPLE.replace("rows: 3\n   cols: 3", "rows: 3\n   cols: 4").encode(), ["camera_matrix"]),
        (OPENCV4_SAMPLE.replace("image_height: 720\n", "").encode(), ["missing key 'image_height'"]),
        (OPENCV4_SAMPLE[:300].encode(), ["OpenCV YAML"]),
        (b"P2: 1 2 3\n", ["P2"]),
    ],
)
def test_malformed_files_raise_camera_file_error_naming_the_problem(tmp_path, content, fragments):
    path = tmp_path / "bad.yaml"
    path.write_bytes(content)
    _assert_file_error(path, *fragments)


def test_camera_file_error_pickles():
    error = CameraFileError("a.yaml", "missing key 'x'")
    again = pickle.loads(pickle.dumps(error))
    assert str(again) == str(error) and again.path == "a.yaml"


def _valid_file_bytes() -> list[bytes]:
    out = [OPENCV4_SAMPLE.encode(), ROS_SAMPLE.encode()]
    xml = (
        '<?xml version="1.0"?>\n<opencv_storage>\n<image_width>640</image_width>\n<image_height>480</image_height>\n'
        '<camera_matrix type_id="opencv-matrix">\n  <rows>3</rows>\n  <cols>3</cols>\n  <dt>d</dt>\n  <data>\n'
        "    500. 0. 319.5 0. 500. 239.5 0. 0. 1.</data></camera_matrix>\n</opencv_storage>\n"
    )
    out.append(xml.encode())
    return out


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    data=st.one_of(
        st.binary(max_size=400),
        st.tuples(st.sampled_from(_valid_file_bytes()), st.floats(0, 1)).map(lambda t: t[0][: int(len(t[0]) * t[1])]),
        st.tuples(st.sampled_from(_valid_file_bytes()), st.integers(0, 10**6), st.binary(min_size=1, max_size=8)).map(
            lambda t: t[0][: t[1] % len(t[0])] + t[2] + t[0][t[1] % len(t[0]) + len(t[2]) :]
        ),
    )
)
def test_fuzzed_files_parse_or_raise_camera_file_error(tmp_path, data):
    """Random bytes, truncated and corrupted valid files: a CameraModel or a CameraFileError, nothing else."""
    path = tmp_path / "fuzz.yaml"
    path.write_bytes(data)
    try:
        camera = load_camera(path)
    except CameraFileError as exc:
        assert str(path) in str(exc)
    else:
        assert isinstance(camera, CameraModel)


# ---------------------------------------------------------------------------------------------- KITTI
def _need_kitti() -> None:
    if not KITTI.is_dir():
        pytest.skip(f"KITTI sample frames not found at {KITTI} (shared data absent)")


def test_kitti_calib_takes_intrinsics_from_p2_and_size_from_the_image():
    _need_kitti()
    cam = load_camera(KITTI / "calib" / "000000.txt")
    assert cam.image_size_wh == (1224, 370)  # this frame is smaller than the usual 1242x375
    assert (cam.fx, cam.fy, cam.cx, cam.cy) == (707.0493, 707.0493, 604.0814, 180.5066)
    assert cam.dist_coeffs == () and not cam.mounting_known
    assert load_camera(KITTI / "calib" / "000001.txt").image_size_wh == (1242, 375)


def test_kitti_calib_without_image_needs_the_size(tmp_path):
    _need_kitti()
    copy = tmp_path / "000001.txt"
    copy.write_text((KITTI / "calib" / "000001.txt").read_text())
    with pytest.raises(CameraFileError, match="image size"):
        load_camera(copy)
    assert load_kitti_calib(copy, 1242, 375).fx == 721.5377
    assert load_kitti_calib(copy, image_path=KITTI / "image_2" / "000001.png").image_size_wh == (1242, 375)


def test_mirrored_camera_sees_the_mirrored_road():
    """A road point (x, y) seen by the mirrored camera lands where the flipped image shows (x, -y)."""
    from calibration.ground import pixel_from_road

    cam = CameraModel(640, 480, 500.0, 510.0, 300.25, 250.75).with_mounting(
        height_m=1.4, pitch_rad=0.03, yaw_rad=0.05, roll_rad=-0.02)
    flipped = cam.mirrored()
    road = np.array([[8.0, 1.5], [20.0, -3.0], [40.0, 0.4]])
    u, v = pixel_from_road(cam, road).T
    u_m, v_m = pixel_from_road(flipped, road * (1.0, -1.0)).T
    np.testing.assert_allclose(u_m, 639.0 - u, atol=1e-9)
    np.testing.assert_allclose(v_m, v, atol=1e-9)
    assert flipped.mirrored() == cam

    # distortion: the mirrored model distorts the flipped image exactly as the original distorts the image
    distorted = CameraModel(640, 480, 500.0, 500.0, 310.0, 240.0, (-0.2, 0.05, 0.001, 0.002, 0.01))
    rays = np.array([[0.3, -0.2, 1.0], [-0.4, 0.1, 1.0]])
    zero = np.zeros(3)
    pts, _ = cv2.projectPoints(rays, zero, zero, distorted.K, distorted.dist)
    mirror = distorted.mirrored()
    pts_m, _ = cv2.projectPoints(rays * (-1.0, 1.0, 1.0), zero, zero, mirror.K, mirror.dist)
    np.testing.assert_allclose(pts_m[:, 0, 0], 639.0 - pts[:, 0, 0], atol=1e-9)
    np.testing.assert_allclose(pts_m[:, 0, 1], pts[:, 0, 1], atol=1e-9)
    with pytest.raises(CalibrationError, match="cannot mirror"):
        CameraModel(640, 480, 500.0, 500.0, 320.0, 240.0, tuple([0.01] * 12)).mirrored()
