"""Bridges the camera model (calibration/) into the pipeline: distances on detections.

``distance_m`` is the longitudinal distance on a flat road (metres, forward from the point below the
camera) to the bottom centre of the box, undistorted first; null when the mounting is unknown or the
box bottom is at or above the horizon.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from perception.preprocess import Preprocessor
from perception.results import FrameResult


def calibration_summary(camera: Any | None, path: str | None) -> dict[str, Any]:
    """The ``calibration`` block of summary.json: which camera model was used and whether distances exist."""
    if camera is None:
        return {"source": "none", "camera_file": None, "undistorted": False, "distances": False,
                "note": "no --camera given: no undistortion, distance_m is null"}
    return {"source": "file", "camera_file": path, "undistorted": bool(np.any(camera.dist)),
            "distances": bool(camera.mounting_known),
            "mounting": {"height_m": camera.height_m, "pitch_rad": camera.pitch_rad, "yaw_rad": camera.yaw_rad,
                         "roll_rad": camera.roll_rad} if camera.mounting_known else None,
            "note": None if camera.mounting_known else "camera file has no mounting height: distance_m is null"}


def make_enricher(camera: Any | None, pre: Preprocessor) -> Callable[[FrameResult], None] | None:
    """Return a per-frame function that fills ``distance_m`` on detections, or None without a mounting."""
    if camera is None or not camera.mounting_known:
        return None

    def enrich(result: FrameResult) -> None:
        if not result.detections:
            return
        boxes = np.array([d.box_xyxy for d in result.detections], dtype=np.float64)
        road_xy_m = road_xy_from_boxes(camera, boxes)  # (N, 2), NaN above horizon
        for det, x_m in zip(result.detections, road_xy_m[:, 0]):
            det.distance_m = float(x_m) if np.isfinite(x_m) else None

    return enrich


def road_xy_from_boxes(camera: Any, boxes_xyxy: np.ndarray) -> np.ndarray:
    """Road points float64[N, 2] (x forward, y left, metres; calibration road frame) below the bottom centres
    of raw-pixel boxes float[N, 4] xyxy; NaN rows for box bottoms at or above the horizon."""
    from calibration.ground import road_from_pixel

    boxes = np.asarray(boxes_xyxy, dtype=np.float64).reshape(-1, 4)
    if len(boxes) == 0:
        return np.zeros((0, 2))
    return road_from_pixel(camera, _undistort_bottom_centres(boxes, camera))


def _undistort_bottom_centres(boxes_xyxy: np.ndarray, camera: Any) -> np.ndarray:
    """Bottom-centre points (N, 2) of raw-pixel boxes, in undistorted pixels of the camera."""
    import cv2

    pts = np.stack([(boxes_xyxy[:, 0] + boxes_xyxy[:, 2]) / 2 - 0.5, boxes_xyxy[:, 3] - 0.5], axis=1)
    if not np.any(camera.dist):
        return pts
    K = np.asarray(camera.K, dtype=np.float64)
    return cv2.undistortPoints(pts.reshape(-1, 1, 2), K, np.asarray(camera.dist), P=K).reshape(-1, 2)


LANE_CALIBRATION_FRAMES = 50  # frames (2 s at 25 fps) read ahead for the lane vanishing point (default mounting)


def make_lane_enricher(camera: Any | None, size_wh: tuple[int, int], source: str, calibration_frames: Any = None,
                       first_track_id: int = 0) -> Callable[[FrameResult, np.ndarray], None] | None:
    """The lane stage (:mod:`perception.lanes`) as a per-frame ``lanes(result, frame_bgr)`` call, or None.

    Args:
        camera: from ``--camera`` or None; without a mounting the lanes use the default mounting (height 1.5 m,
            pitch/yaw from the lane vanishing point of ``calibration_frames``).
        size_wh: (width, height) of the raw frames, pixels.
        source: "classical", "network" or "off" (None is returned).
        calibration_frames: iterable of raw BGR frames (e.g. :func:`first_frames`); ignored when the camera
            has a mounting.
        first_track_id: id of the first lane track (a resumed run continues the earlier parts' numbering).
    The returned callable has a ``summary()`` method (the ``lanes`` block of summary.json).
    """
    if source == "off":
        return None
    from perception.lanes import make_lane_stage

    return make_lane_stage(camera, size_wh, source=source, calibration_frames=calibration_frames,
                           first_track_id=first_track_id)


def first_frames(source: Any, n: int = LANE_CALIBRATION_FRAMES) -> list[np.ndarray]:
    """Up to ``n`` decoded BGR frames from the start of a freshly opened ``source`` (a FrameSource), which is
    closed afterwards: the read-ahead for the lane vanishing point, separate from the pipeline's own source."""
    from perception.sources import FailedFrame

    frames = []
    try:
        for item in source.iter_frames():
            if len(frames) >= n:
                break
            if not isinstance(item, FailedFrame):
                frames.append(item.image_bgr)
    finally:
        source.close()
    return frames
