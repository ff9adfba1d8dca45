"""Preprocessing geometry: a point drawn in the camera frame is found where the inverse mapping says."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from conftest import CLIP, need
from perception.preprocess import LetterboxParams, Preprocessor


def _blob_image(size_wh, centre_xy, sigma=3.0):
    """Grey image with a bright Gaussian blob at a sub-pixel position (pixel-centre coordinates)."""
    w, h = size_wh
    xs, ys = np.meshgrid(np.arange(w), np.arange(h))
    g = np.exp(-((xs - centre_xy[0]) ** 2 + (ys - centre_xy[1]) ** 2) / (2 * sigma ** 2))
    img = (20 + 220 * g).astype(np.uint8)
    return np.repeat(img[..., None], 3, axis=2)


def _centroid(gray, around_xy, radius):
    x0, y0 = int(around_xy[0]), int(around_xy[1])
    patch = gray[y0 - radius:y0 + radius + 1, x0 - radius:x0 + radius + 1].astype(np.float64) - 20
    patch[patch < 0] = 0
    ys, xs = np.mgrid[y0 - radius:y0 + radius + 1, x0 - radius:x0 + radius + 1]
    return np.array([(xs * patch).sum() / patch.sum(), (ys * patch).sum() / patch.sum()])


@pytest.mark.parametrize("size_wh", [(960, 540), (1242, 375), (1224, 370), (480, 360)])
def test_params_round_trip_is_exact(size_wh):
    p = LetterboxParams.fit(size_wh, (640, 384))
    pts = np.random.default_rng(0).uniform([0, 0], size_wh, size=(100, 2))
    assert np.abs(p.src_from_net(p.net_from_src(pts)) - pts).max() < 1e-9
    x0, y0, x1, y1 = p.valid_region_net()
    assert 0 <= x0 < x1 <= 640 and 0 <= y0 < y1 <= 384
    assert (x1 - x0 == 640) or (y1 - y0 == 384)  # fills one axis


@pytest.mark.parametrize("size_wh,point", [((960, 540), (700.3, 400.7)), ((1242, 375), (200.6, 100.2)),
                                           ((480, 360), (100.0, 300.5))])
def test_point_survives_letterbox_within_half_pixel(size_wh, point):
    """Draw a dot, letterbox the image, find the dot in the network input, map it back: < 0.5 px."""
    pre = Preprocessor((640, 384))
    rgb, params = pre(_blob_image(size_wh, point, sigma=4.0))
    assert rgb.shape == (384, 640, 3) and rgb.dtype == np.uint8
    expected_net = params.net_from_src(np.array([point]))[0]
    found_net = _centroid(rgb[..., 0], expected_net, radius=8)
    back = pre.src_from_net(found_net[None], params)[0]
    assert np.linalg.norm(back - np.array(point)) < 0.5


def test_real_frame_keeps_content_and_pads_grey():
    cap = cv2.VideoCapture(str(need(CLIP)))
    ok, frame = cap.read()
    assert ok
    rgb, params = Preprocessor((640, 384))(frame)
    assert params.resized_wh == (640, 360) and params.pad_top_px == 12
    assert (rgb[:12] == 114).all() and (rgb[-12:] == 114).all()
    ref = cv2.cvtColor(cv2.resize(frame, (640, 360), interpolation=cv2.INTER_LINEAR), cv2.COLOR_BGR2RGB)
    assert np.array_equal(rgb[12:372], ref)


def _camera(w=960, h=540, k1=-0.25, k2=0.08):
    from calibration.camera import CameraModel

    return CameraModel(width_px=w, height_px=h, fx=800.0, fy=800.0, cx=w / 2 - 7.5, cy=h / 2 + 4.25,
                       dist_coeffs=(k1, k2, 0.001, -0.0005, 0.0))


def test_camera_remap_equals_undistort_then_letterbox():
    """The fused remap gives the same image as cv2.undistort followed by the letterbox resize."""
    cam = _camera()
    frame = cv2.VideoCapture(str(need(CLIP))).read()[1]
    fused, params = Preprocessor((640, 384), camera=cam)(frame)
    und = cv2.undistort(frame, cam.K, cam.dist)
    ref, _ = Preprocessor((640, 384))(und)
    x0, y0, x1, y1 = params.valid_region_net()
    diff = np.abs(fused[y0 + 4:y1 - 4, x0 + 4:x1 - 4].astype(int) - ref[y0 + 4:y1 - 4, x0 + 4:x1 - 4].astype(int))
    # two resamplings (undistort, resize) vs one: allow interpolation differences, not misplacement
    assert np.median(diff) <= 2 and np.percentile(diff, 99) < 40


@pytest.mark.parametrize("raw_point", [(120.4, 80.6), (480.0, 270.0), (850.7, 470.2)])
def test_distorted_point_round_trip_within_half_pixel(raw_point):
    """A dot in the raw (distorted) frame is found in the undistorted network input and maps back."""
    cam = _camera()
    pre = Preprocessor((640, 384), camera=cam)
    rgb, params = pre(_blob_image((960, 540), raw_point, sigma=4.0))
    und = cv2.undistortPoints(np.array([[raw_point]], np.float64), cam.K, cam.dist, P=cam.K).reshape(2)
    expected_net = params.net_from_src(und[None])[0]
    found_net = _centroid(rgb[..., 0], expected_net, radius=8)
    back = pre.src_from_net(found_net[None], params)[0]
    assert np.linalg.norm(back - np.array(raw_point)) < 0.5


def test_boxes_map_back_inside_image_and_exactly_without_distortion():
    pre = Preprocessor((640, 384))
    params = pre.params_for((960, 540))
    src = np.array([[100.0, 50.0, 300.0, 200.0], [0.0, 0.0, 960.0, 540.0]])
    net = np.empty_like(src)
    net[:, [0, 2]] = src[:, [0, 2]] * params.sx + params.pad_left_px
    net[:, [1, 3]] = src[:, [1, 3]] * params.sy + params.pad_top_px
    assert np.allclose(pre.boxes_src_from_net(net, params), src)
    # a box reaching into the padding is clipped to the image
    clipped = pre.boxes_src_from_net(np.array([[-20.0, 0.0, 700.0, 384.0]]), params)[0]
    assert clipped[0] == 0 and clipped[1] == 0 and clipped[2] == 960 and clipped[3] == 540
