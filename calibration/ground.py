"""Flat-road geometry: undistorted pixels <-> road points, box distances, bird's-eye view (BEV).

The road is the plane z = 0 of the road frame (x forward, y left, z up, metres); the camera centre is at
(0, 0, height_m), rotated by the camera's pitch/yaw/roll (conventions: ``calibration/__init__.py``).
Pixel inputs and outputs are *undistorted* pixel coordinates of the camera's K (see
:mod:`calibration.undistort`); for a camera without distortion these are the image's own pixels.
Everything here needs the mounting: a camera with ``height_m=None`` raises :class:`MountingUnknownError`,
except :func:`distance_m_from_box`, which returns None (a per-detection "distance unknown").
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from calibration.camera import CameraModel
from calibration.errors import MountingUnknownError
from calibration.frames import camera_from_road_rotation
from calibration.undistort import distort_points

__all__ = [
    "camera_from_road_transform",
    "image_from_road_homography",
    "road_from_pixel",
    "pixel_from_road",
    "horizon_line",
    "horizon_v_px",
    "road_points_from_boxes",
    "distance_m_from_box",
    "bev_size_wh",
    "bev_from_road_matrix",
    "bev_homography",
    "warp_to_bev",
]


def _height_m(camera: CameraModel) -> float:
    if camera.height_m is None:
        raise MountingUnknownError(
            "camera mounting is unknown (height_m is None): give the camera height above the road, "
            "e.g. camera.with_mounting(height_m=1.5) or 'camera_height_m' in the camera file"
        )
    return camera.height_m


def _points(name: str, values: np.ndarray) -> np.ndarray:
    pts = np.asarray(values, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise ValueError(f"{name} must have shape (N, 2), got {pts.shape}")
    return pts


def camera_from_road_transform(camera: CameraModel) -> tuple[np.ndarray, np.ndarray]:
    """``(R, t)`` with ``p_camera = R @ p_road + t``; R float64[3, 3], t float64[3] (metres)."""
    rotation = camera_from_road_rotation(camera.pitch_rad, camera.yaw_rad, camera.roll_rad)
    camera_centre_road = np.array([0.0, 0.0, _height_m(camera)])
    return rotation, -rotation @ camera_centre_road


def image_from_road_homography(camera: CameraModel) -> np.ndarray:
    """H float64[3, 3] with ``(u, v, 1) ~ H @ (x_m, y_m, 1)`` for road points (undistorted pixels)."""
    rotation, t = camera_from_road_transform(camera)
    return camera.K @ np.column_stack([rotation[:, 0], rotation[:, 1], t])


def road_from_pixel(camera: CameraModel, uv_px: np.ndarray) -> np.ndarray:
    """Road points float64[N, 2] (x forward, y left, metres) seen at undistorted pixels ``uv_px`` float[N, 2].

    Rows are NaN for pixels at or above the horizon (their rays never reach the road).
    """
    uv = _points("uv_px", uv_px)
    height_m = _height_m(camera)
    rays_camera = np.linalg.solve(camera.K, np.column_stack([uv, np.ones(len(uv))]).T)  # (3, N)
    rotation, _ = camera_from_road_transform(camera)
    rays_road = rotation.T @ rays_camera  # (3, N), road axes
    down = -rays_road[2]  # > 0 when the ray descends
    hits = down > 1e-12 * np.linalg.norm(rays_road, axis=0)
    scale = np.where(hits, height_m / np.where(hits, down, 1.0), np.nan)  # ray length to the road, (N,)
    return (rays_road[:2] * scale).T  # (N, 2)


def pixel_from_road(camera: CameraModel, xy_m: np.ndarray) -> np.ndarray:
    """Undistorted pixels float64[N, 2] of road points ``xy_m`` float[N, 2]; NaN rows for points behind the camera."""
    xy = _points("xy_m", xy_m)
    rotation, t = camera_from_road_transform(camera)
    points_road = np.column_stack([xy, np.zeros(len(xy))])  # (N, 3), on the road plane
    points_camera = points_road @ rotation.T + t  # (N, 3)
    depth = points_camera[:, 2]
    in_front = depth > 1e-9
    safe_depth = np.where(in_front, depth, 1.0)
    u = camera.fx * points_camera[:, 0] / safe_depth + camera.cx
    v = camera.fy * points_camera[:, 1] / safe_depth + camera.cy
    out = np.column_stack([u, v])
    out[~in_front] = np.nan
    return out


def horizon_line(camera: CameraModel) -> np.ndarray:
    """Line ``(a, b, c)`` float64[3], ``a*u + b*v + c = 0`` on the image of the road's horizon.

    Normalised so that ``a^2 + b^2 = 1`` and ``a*u + b*v + c > 0`` on the road side (below the horizon for
    a camera that is upright). Needs only the angles, not the height.
    """
    rotation = camera_from_road_rotation(camera.pitch_rad, camera.yaw_rad, camera.roll_rad)
    # A pixel p = (u, v, 1) sees the camera-frame ray K^-1 p (in front: z = 1); its road-frame z component
    # is e_z . R^T K^-1 p = (K^-T R e_z) . p. The road side is where that is negative, hence the minus sign.
    line = -np.linalg.solve(camera.K.T, rotation @ np.array([0.0, 0.0, 1.0]))
    return line / math.hypot(line[0], line[1])


def horizon_v_px(camera: CameraModel, u_px: float | np.ndarray | None = None) -> float | np.ndarray:
    """Row ``v`` of the horizon at column ``u_px`` (default: the principal point's column ``cx``)."""
    a, b, c = horizon_line(camera)
    u = camera.cx if u_px is None else np.asarray(u_px, dtype=np.float64)
    v = -(a * u + c) / b
    return float(v) if np.ndim(v) == 0 else v


def road_points_from_boxes(camera: CameraModel, boxes_xyxy: np.ndarray) -> np.ndarray:
    """Road points float64[N, 2] of the bottom-centre ``((x1 + x2) / 2, y2)`` of boxes float[N, 4].

    Boxes are ``(x1, y1, x2, y2)`` in undistorted pixel coordinates with ``x1 <= x2``, ``y1 <= y2``; the
    bottom edge is taken to touch the road. NaN rows for boxes whose bottom is at or above the horizon.
    """
    boxes = np.asarray(boxes_xyxy, dtype=np.float64)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"boxes_xyxy must have shape (N, 4), got {boxes.shape}")
    bottom_centre = np.column_stack([(boxes[:, 0] + boxes[:, 2]) / 2.0, boxes[:, 3]])  # (N, 2)
    return road_from_pixel(camera, bottom_centre)


def distance_m_from_box(camera: CameraModel, box_xyxy: np.ndarray | tuple[float, float, float, float]) -> float | None:
    """Longitudinal distance (road x, metres, from the point below the camera) to a box's bottom-centre.

    ``box_xyxy``: ``(x1, y1, x2, y2)``, undistorted pixels. Longitudinal rather than Euclidean because that is
    what following distance and time gap need and what KITTI-style depth labels measure; for the Euclidean
    distance use ``np.hypot(*road_points_from_boxes(camera, box[None])[0])``.
    Returns None when the mounting is unknown or the box bottom is at or above the horizon.
    """
    if not camera.mounting_known:
        return None
    box = np.asarray(box_xyxy, dtype=np.float64).reshape(1, 4)
    x_m = road_points_from_boxes(camera, box)[0, 0]
    return None if not np.isfinite(x_m) else float(x_m)


# ---------------------------------------------------------------------------------------------------------
# Bird's-eye view. The BEV image looks down on the road: up = forward (+x), left = left (+y).
# BEV pixel (col, row) has its centre at road x = x_max - (row + 0.5) / px_per_m, y = y_max - (col + 0.5) / px_per_m,
# so the image covers exactly [x_min, x_max] x [y_min, y_max].


def _check_ranges(x_range_m: tuple[float, float], y_range_m: tuple[float, float], px_per_m: float) -> None:
    (x_min, x_max), (y_min, y_max) = x_range_m, y_range_m
    if not (x_max > x_min and y_max > y_min and px_per_m > 0):
        raise ValueError(f"need x_min < x_max, y_min < y_max, px_per_m > 0; got {x_range_m}, {y_range_m}, {px_per_m}")


def bev_size_wh(x_range_m: tuple[float, float], y_range_m: tuple[float, float], px_per_m: float) -> tuple[int, int]:
    """``(width, height)`` of the BEV image in pixels."""
    _check_ranges(x_range_m, y_range_m, px_per_m)
    width = round((y_range_m[1] - y_range_m[0]) * px_per_m)
    height = round((x_range_m[1] - x_range_m[0]) * px_per_m)
    if width < 1 or height < 1 or width * height > 50_000_000:
        raise ValueError(f"BEV image of {width}x{height} px is empty or unreasonably large")
    return int(width), int(height)


def bev_from_road_matrix(x_range_m: tuple[float, float], y_range_m: tuple[float, float], px_per_m: float) -> np.ndarray:
    """Affine float64[3, 3]: ``(col, row, 1) = M @ (x_m, y_m, 1)``."""
    _check_ranges(x_range_m, y_range_m, px_per_m)
    return np.array(
        [
            [0.0, -px_per_m, y_range_m[1] * px_per_m - 0.5],
            [-px_per_m, 0.0, x_range_m[1] * px_per_m - 0.5],
            [0.0, 0.0, 1.0],
        ]
    )


def bev_homography(
    camera: CameraModel, x_range_m: tuple[float, float], y_range_m: tuple[float, float], px_per_m: float
) -> np.ndarray:
    """H float64[3, 3]: ``(col, row, 1) ~ H @ (u, v, 1)`` from undistorted image pixels to BEV pixels.

    ``x_range_m = (x_min, x_max)`` forward, ``y_range_m = (y_min, y_max)`` left-positive (e.g. ``(-10, 10)``).
    The whole rectangle must lie in front of the camera (else ValueError): a homography cannot show what is
    behind the camera.
    """
    rotation, t = camera_from_road_transform(camera)
    corners = np.array([[x, y, 0.0] for x in x_range_m for y in y_range_m])  # (4, 3)
    depth = (corners @ rotation.T + t)[:, 2]
    if np.any(depth <= 0.0):
        raise ValueError(f"BEV area x={x_range_m} m, y={y_range_m} m reaches behind the camera; raise x_min")
    road_from_image = np.linalg.inv(image_from_road_homography(camera))
    bev = bev_from_road_matrix(x_range_m, y_range_m, px_per_m) @ road_from_image
    return bev / bev[2, 2]


def warp_to_bev(
    image: np.ndarray,
    camera: CameraModel,
    x_range_m: tuple[float, float],
    y_range_m: tuple[float, float],
    px_per_m: float,
    interpolation: int = cv2.INTER_LINEAR,
) -> np.ndarray:
    """BEV image (H_bev, W_bev[, C]) of the road in ``image``, the camera's raw frame (H, W[, C]).

    If the camera has distortion the frame is undistorted on the fly (one ``cv2.remap``); otherwise this is
    one ``cv2.warpPerspective``. Pixels outside the frame are 0.
    """
    if image.shape[:2] != (camera.height_px, camera.width_px):
        raise ValueError(
            f"image is {image.shape[1]}x{image.shape[0]} but the camera is {camera.width_px}x{camera.height_px}; "
            "use camera.scaled_to(...)"
        )
    size_wh = bev_size_wh(x_range_m, y_range_m, px_per_m)
    bev_from_image = bev_homography(camera, x_range_m, y_range_m, px_per_m)
    if not camera.has_distortion:
        return cv2.warpPerspective(image, bev_from_image, size_wh, flags=interpolation, borderMode=cv2.BORDER_CONSTANT)
    cols, rows = np.meshgrid(np.arange(size_wh[0], dtype=np.float64), np.arange(size_wh[1], dtype=np.float64))
    bev_px = np.column_stack([cols.ravel(), rows.ravel()])  # (H_bev * W_bev, 2)
    undistorted = cv2.perspectiveTransform(bev_px.reshape(-1, 1, 2), np.linalg.inv(bev_from_image)).reshape(-1, 2)
    margin = 0.25 * max(camera.width_px, camera.height_px)  # the distortion model is only trusted near the image
    inside = (
        (undistorted[:, 0] > -margin)
        & (undistorted[:, 0] < camera.width_px + margin)
        & (undistorted[:, 1] > -margin)
        & (undistorted[:, 1] < camera.height_px + margin)
    )
    raw = np.full_like(undistorted, -1.0)
    raw[inside] = distort_points(camera, undistorted[inside])
    map_u = raw[:, 0].reshape(size_wh[1], size_wh[0]).astype(np.float32)  # (H_bev, W_bev)
    map_v = raw[:, 1].reshape(size_wh[1], size_wh[0]).astype(np.float32)
    return cv2.remap(image, map_u, map_v, interpolation, borderMode=cv2.BORDER_CONSTANT)
