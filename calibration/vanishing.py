"""Vanishing point of the lane lines in one frame (Canny + probabilistic Hough in a lower-image ROI).

Lane lines are parallel to the road's x axis, so in an undistorted image they meet at the vanishing point
of road +x, from which pitch and yaw follow (:mod:`calibration.pitch_yaw`). Segments are split into a left
family (rising to the right: dv/du < 0) and a right family (dv/du > 0); the vanishing point is the point
closest, in the length-weighted least-squares sense, to the lines through all segments, refit on inliers.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from calibration.camera import CameraModel
from calibration.undistort import undistort_points

__all__ = [
    "LaneLineParams",
    "VanishingPoint",
    "lane_segments",
    "vanishing_point_from_segments",
    "detect_vanishing_point",
]


@dataclass(frozen=True)
class LaneLineParams:
    roi_top_frac: float = 0.55  # ROI starts this far down the frame (fraction of height): below the horizon
    roi_bottom_frac: float = 0.95  # ... and ends here (leaves out the bonnet)
    canny_low: int = 50  # Canny hysteresis thresholds on the blurred grey image
    canny_high: int = 150
    hough_threshold: int = 20  # HoughLinesP accumulator votes
    min_line_length_frac: float = 0.02  # shortest segment, fraction of frame width
    max_line_gap_frac: float = 0.01  # largest gap bridged inside a segment, fraction of frame width
    min_abs_slope: float = 0.2  # |dv/du| below this is not a lane line (horizontal edges: cars, shadows)
    max_abs_slope: float = 4.0  # |dv/du| above this is too vertical to belong to a lane line beside the car
    side_margin_frac: float = 0.1  # left-family segments must lie left of cx + margin * width (mirror for right)
    inlier_frac: float = 0.01  # a segment line within this fraction of the width from the VP is an inlier
    min_segments_per_side: int = 2  # inlier segments needed on each side
    min_length_per_side_frac: float = 0.08  # inlier segment length needed on each side, fraction of width


@dataclass(frozen=True)
class VanishingPoint:
    uv_px: tuple[float, float] | None  # undistorted pixel coordinates; None when not found
    left_segments: int  # inlier segments in the left family
    right_segments: int
    residual_px: float  # length-weighted RMS distance of inlier segment lines to the VP (nan if none)
    reason: str = ""  # why no VP ("" when found)


def lane_segments(frame_bgr: np.ndarray, params: LaneLineParams = LaneLineParams()) -> np.ndarray:
    """Line segments float64[N, 4] ``(u1, v1, u2, v2)`` in the frame's own (raw) pixels, inside the ROI."""
    height, width = frame_bgr.shape[:2]
    gray = cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2GRAY) if frame_bgr.ndim == 3 else frame_bgr
    edges = cv2.Canny(cv2.GaussianBlur(gray, (5, 5), 0), params.canny_low, params.canny_high)
    top, bottom = int(params.roi_top_frac * height), int(params.roi_bottom_frac * height)
    edges[:top] = 0
    edges[bottom:] = 0
    lines = cv2.HoughLinesP(
        edges,
        rho=1,
        theta=np.pi / 180,
        threshold=params.hough_threshold,
        minLineLength=max(5, int(params.min_line_length_frac * width)),
        maxLineGap=max(1, int(params.max_line_gap_frac * width)),
    )
    return np.zeros((0, 4)) if lines is None else lines.reshape(-1, 4).astype(np.float64)


def vanishing_point_from_segments(
    segments: np.ndarray, camera: CameraModel, params: LaneLineParams = LaneLineParams()
) -> VanishingPoint:
    """Vanishing point of undistorted segments float[N, 4] of a frame of ``camera``."""
    seg = np.asarray(segments, dtype=np.float64).reshape(-1, 4)
    du, dv = seg[:, 2] - seg[:, 0], seg[:, 3] - seg[:, 1]
    length = np.hypot(du, dv)
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = dv / du
    mid_u = (seg[:, 0] + seg[:, 2]) / 2
    margin = params.side_margin_frac * camera.width_px
    steep = (np.abs(slope) >= params.min_abs_slope) & (np.abs(slope) <= params.max_abs_slope) & (length > 0)
    left = steep & (slope < 0) & (mid_u < camera.cx + margin)
    right = steep & (slope > 0) & (mid_u > camera.cx - margin)
    keep = left | right
    if left.sum() < params.min_segments_per_side or right.sum() < params.min_segments_per_side:
        return VanishingPoint(None, int(left.sum()), int(right.sum()), float("nan"), "too few lane segments")
    # Line through each segment as (a, b, c) with a^2 + b^2 = 1: distance of (u, v) is |a u + b v + c|.
    a, b = dv / np.where(length > 0, length, 1), -du / np.where(length > 0, length, 1)
    c = -(a * seg[:, 0] + b * seg[:, 1])
    inlier = keep.copy()
    tolerance = params.inlier_frac * camera.width_px
    uv = None
    for _ in range(4):  # fit, drop far lines, refit
        w = length[inlier]
        A = np.column_stack([a[inlier], b[inlier]]) * np.sqrt(w)[:, None]  # noqa: N806, (M, 2)
        rhs = -c[inlier] * np.sqrt(w)
        if np.linalg.cond(A) > 1e8:
            n_left, n_right = int((inlier & left).sum()), int((inlier & right).sum())
            return VanishingPoint(None, n_left, n_right, float("nan"), "lane segments are parallel in the image")
        uv, *_ = np.linalg.lstsq(A, rhs, rcond=None)
        distance = np.abs(a * uv[0] + b * uv[1] + c)
        new_inlier = keep & (distance <= max(tolerance, 1.0))
        if np.array_equal(new_inlier, inlier):
            break
        inlier = new_inlier
        n_left, n_right = int((inlier & left).sum()), int((inlier & right).sum())
        if min(n_left, n_right) < params.min_segments_per_side:
            break
    n_left, n_right = int((inlier & left).sum()), int((inlier & right).sum())
    enough_length = params.min_length_per_side_frac * camera.width_px
    if (
        n_left < params.min_segments_per_side
        or n_right < params.min_segments_per_side
        or length[inlier & left].sum() < enough_length
        or length[inlier & right].sum() < enough_length
    ):
        return VanishingPoint(None, n_left, n_right, float("nan"), "left and right lines do not meet in one point")
    distance = np.abs(a * uv[0] + b * uv[1] + c)[inlier]
    residual = float(np.sqrt(np.average(distance**2, weights=length[inlier])))
    return VanishingPoint((float(uv[0]), float(uv[1])), n_left, n_right, residual)


def detect_vanishing_point(
    frame_bgr: np.ndarray, camera: CameraModel, params: LaneLineParams = LaneLineParams()
) -> VanishingPoint:
    """Lane-line vanishing point of one raw frame (H, W, 3) of ``camera``, in undistorted pixels."""
    if frame_bgr.shape[:2] != (camera.height_px, camera.width_px):
        raise ValueError(
            f"frame is {frame_bgr.shape[1]}x{frame_bgr.shape[0]}, camera {camera.width_px}x{camera.height_px}"
        )
    segments = lane_segments(frame_bgr, params)
    if camera.has_distortion and len(segments):
        segments = undistort_points(camera, segments.reshape(-1, 2)).reshape(-1, 4)  # endpoints, (N, 4)
    return vanishing_point_from_segments(segments, camera, params)
