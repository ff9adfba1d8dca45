"""Synthetic images from a known camera (road with lane lines, chessboards), for tests where the answer is exact.

The scene is a flat road (conventions: ``calibration/__init__.py``) with straight lane markings parallel to
road x: a solid line on the left, a dashed centre line on the right and a solid edge line one lane further
right. Markings are drawn as filled road-plane quads projected with :func:`calibration.ground.pixel_from_road`,
so their image edges are exact perspective lines.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass

import cv2
import numpy as np

from calibration.camera import CameraModel
from calibration.ground import horizon_line, pixel_from_road
from calibration.undistort import undistort_points

__all__ = ["LaneScene", "render_lane_scene", "render_chessboard"]

_SUBPIXEL_BITS = 4  # cv2.fillPoly fixed-point precision: 1/16 px


@dataclass(frozen=True)
class LaneScene:
    lane_width_m: float = 3.6  # distance between lane-line centres
    line_width_m: float = 0.15  # painted width of each line
    x_near_m: float = 4.0  # markings start this far ahead
    x_far_m: float = 120.0  # ... and end here
    dash_length_m: float = 3.0  # dashed line: painted length
    dash_period_m: float = 12.0  # dashed line: painted + gap
    noise_std: float = 4.0  # Gaussian pixel noise, grey levels
    blur_px: int = 3  # box blur kernel (odd), imitates optics; 1 = none


def _fill_road_quad(image, camera, x0, x1, y0, y1, colour):
    corners = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float64)  # (4, 2) road metres
    uv = pixel_from_road(camera, corners)
    if not np.all(np.isfinite(uv)):
        return
    pts = np.round(uv * (1 << _SUBPIXEL_BITS)).astype(np.int64)
    if np.abs(pts).max() > 2**30:
        return
    cv2.fillPoly(image, [pts.astype(np.int32)], colour, lineType=cv2.LINE_AA, shift=_SUBPIXEL_BITS)


def render_lane_scene(
    camera: CameraModel,
    scene: LaneScene = LaneScene(),
    *,
    travelled_m: float = 0.0,
    lateral_offset_m: float = 0.0,
    seed: int = 0,
) -> np.ndarray:
    """BGR uint8 image (H, W, 3) of the lane scene seen by ``camera`` (needs its mounting).

    ``travelled_m`` shifts the dashes (a moving car); ``lateral_offset_m`` moves the lane to the left.
    If the camera has distortion, the image is distorted accordingly (raw camera image).
    """
    # Render the ideal pinhole view; with distortion, on a canvas with a margin, because the raw image's
    # edges see beyond the undistorted frame (barrel distortion).
    margin = int(0.25 * max(camera.width_px, camera.height_px)) if camera.has_distortion else 0
    pinhole = CameraModel(
        camera.width_px + 2 * margin, camera.height_px + 2 * margin, camera.fx, camera.fy,
        camera.cx + margin, camera.cy + margin,
        height_m=camera.height_m, pitch_rad=camera.pitch_rad, yaw_rad=camera.yaw_rad, roll_rad=camera.roll_rad,
    )  # fmt: skip
    image = np.full((pinhole.height_px, pinhole.width_px, 3), (170, 150, 130), np.uint8)  # sky
    # Road: everything on the road side of the horizon, then markings on top.
    a, b, c = horizon_line(pinhole)
    vv, uu = np.mgrid[0 : pinhole.height_px, 0 : pinhole.width_px]
    image[a * uu + b * vv + c > 0] = (90, 90, 90)
    y_left = lateral_offset_m + scene.lane_width_m / 2
    y_right = lateral_offset_m - scene.lane_width_m / 2
    half = scene.line_width_m / 2
    white = (235, 235, 235)
    for y in (y_left, y_right - scene.lane_width_m):  # solid lines
        _fill_road_quad(image, pinhole, scene.x_near_m, scene.x_far_m, y - half, y + half, white)
    start = scene.x_near_m - (travelled_m % scene.dash_period_m)
    for x0 in np.arange(start, scene.x_far_m, scene.dash_period_m):  # dashed centre line
        x0c, x1c = max(x0, scene.x_near_m), min(x0 + scene.dash_length_m, scene.x_far_m)
        if x1c > x0c:
            _fill_road_quad(image, pinhole, x0c, x1c, y_right - half, y_right + half, white)
    if scene.blur_px > 1:
        image = cv2.blur(image, (scene.blur_px, scene.blur_px))
    if scene.noise_std > 0:
        rng = np.random.default_rng(seed)
        noisy = image.astype(np.float32) + rng.normal(0.0, scene.noise_std, image.shape).astype(np.float32)
        image = np.clip(noisy, 0, 255).astype(np.uint8)
    return _raw_from_ideal(camera, image, margin)


def render_chessboard(
    camera: CameraModel,
    pattern_cols_rows: tuple[int, int],
    square_m: float,
    rvec: np.ndarray,
    tvec: np.ndarray,
) -> np.ndarray:
    """Grey uint8 image (H, W) of a chessboard seen by ``camera`` (its K and distortion; mounting unused).

    The board has ``pattern_cols_rows`` inner corners and a one-square white border; corner (i, j) is at
    board point (i * square_m, j * square_m, 0), the object points of
    :func:`calibration.chessboard.board_object_points`. ``rvec``/``tvec`` (3,) give the board pose in the
    camera frame (OpenCV: ``p_camera = R(rvec) @ p_board + tvec``).
    """
    cols, rows = pattern_cols_rows
    texel_per_square = 40
    n_sq_x, n_sq_y = cols + 1, rows + 1  # squares of the board
    board = np.zeros(((n_sq_y + 2) * texel_per_square, (n_sq_x + 2) * texel_per_square), np.uint8)
    board[:] = 255
    for j in range(n_sq_y):
        for i in range(n_sq_x):
            if (i + j) % 2 == 0:
                y0, x0 = (j + 1) * texel_per_square, (i + 1) * texel_per_square
                board[y0 : y0 + texel_per_square, x0 : x0 + texel_per_square] = 0
    # texel (s, t) centre -> board metres: inner corner (0, 0) sits at texel coordinate 2 * texel_per_square - 0.5
    metres_per_texel = square_m / texel_per_square
    board_from_texel = np.array(
        [[metres_per_texel, 0.0, -(2 * texel_per_square - 0.5) * metres_per_texel],
         [0.0, metres_per_texel, -(2 * texel_per_square - 0.5) * metres_per_texel],
         [0.0, 0.0, 1.0]]
    )  # fmt: skip
    margin = int(0.25 * max(camera.width_px, camera.height_px)) if camera.has_distortion else 0
    rotation, _ = cv2.Rodrigues(np.asarray(rvec, dtype=np.float64))
    k_canvas = camera.K.copy()
    k_canvas[:2, 2] += margin
    image_from_board = k_canvas @ np.column_stack([rotation[:, 0], rotation[:, 1], np.asarray(tvec, float).reshape(3)])
    size = (camera.width_px + 2 * margin, camera.height_px + 2 * margin)
    ideal = cv2.warpPerspective(
        board, image_from_board @ board_from_texel, size, flags=cv2.INTER_AREA, borderValue=160
    )  # wall colour around the board
    return _raw_from_ideal(camera, ideal, margin)


def _raw_from_ideal(camera: CameraModel, ideal: np.ndarray, margin: int) -> np.ndarray:
    """The raw (distorted) image of ``camera`` from its ideal pinhole image drawn with ``margin`` px of border."""
    if not camera.has_distortion:
        return ideal
    # The maps depend on intrinsics only: key the cache on them, not on the mounting.
    intrinsics_only = dataclasses.replace(camera, height_m=None, pitch_rad=0.0, yaw_rad=0.0, roll_rad=0.0)
    map_u, map_v = _ideal_from_raw_maps(intrinsics_only)
    return cv2.remap(ideal, map_u + margin, map_v + margin, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


@functools.lru_cache(maxsize=4)
def _ideal_from_raw_maps(camera: CameraModel) -> tuple[np.ndarray, np.ndarray]:
    """For each raw pixel, where it looks in the undistorted image: float32[H, W] maps for ``cv2.remap``."""
    vv, uu = np.mgrid[0 : camera.height_px, 0 : camera.width_px]
    grid = np.column_stack([uu.ravel(), vv.ravel()]).astype(np.float64)  # raw pixel grid (H*W, 2)
    ideal = undistort_points(camera, grid).astype(np.float32)  # (H*W, 2)
    return ideal[:, 0].reshape(vv.shape), ideal[:, 1].reshape(vv.shape)
