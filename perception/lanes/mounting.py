"""Which camera and mounting the lane stage uses, and how it says so in its output.

* ``camera_file``: a camera file with a mounting (``camera_height_m`` etc.) was given: used as is.
* ``default_mounting``: no camera file, or one without a mounting. Intrinsics come from the file, or from
  :func:`calibration.default_camera` (60 degree horizontal field of view, centred, no distortion); the camera
  is put :data:`DEFAULT_HEIGHT_M` above the road, and its pitch and yaw are taken from the lane-line
  vanishing point of the first frames (:func:`calibration.estimate_pitch_yaw`), or 0 when no vanishing point
  is found there. Metres are then only as right as the guessed height and field of view: a 10% wrong height
  scales every lateral distance by 10%; offsets keep their sign and their changes their shape.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from calibration import CameraModel, default_camera, estimate_pitch_yaw
from calibration.vanishing import LaneLineParams

__all__ = ["DEFAULT_HEIGHT_M", "MIN_PITCH_FRAMES", "LaneCamera", "lane_camera"]

DEFAULT_HEIGHT_M = 1.5  # camera above the road when none is known, metres (a car's windscreen camera: 1.2-1.6)
MIN_PITCH_FRAMES = 3  # frames with a vanishing point needed to use its pitch/yaw instead of 0
# Second try when the default vanishing-point search finds too few frames: a higher ROI, weaker edges, one
# segment per side is enough (faint or dashed markings, single stills).
RELAXED_LANE_PARAMS = LaneLineParams(roi_top_frac=0.45, canny_low=30, canny_high=90, hough_threshold=15,
                                     min_segments_per_side=1, min_length_per_side_frac=0.04, inlier_frac=0.015)


@dataclass(frozen=True)
class LaneCamera:
    """The camera the lane stage works with and where its mounting came from."""

    camera: CameraModel  # with a mounting (height_m set)
    geometry: str  # "camera_file" or "default_mounting"
    pitch_yaw_source: str  # "camera_file", "vanishing_point" (frames used) or "zero"
    pitch_frames_used: int  # frames whose vanishing point went into the pitch/yaw (0 when not estimated)

    def summary(self) -> dict[str, Any]:
        """JSON-ready description (for summary.json and each frame's ``ego``)."""
        c = self.camera
        return {"geometry": self.geometry, "height_m": c.height_m, "pitch_deg": round(math.degrees(c.pitch_rad), 3),
                "yaw_deg": round(math.degrees(c.yaw_rad), 3), "roll_deg": round(math.degrees(c.roll_rad), 3),
                "hfov_deg": round(math.degrees(c.hfov_rad), 2), "pitch_yaw_source": self.pitch_yaw_source,
                "pitch_frames_used": self.pitch_frames_used, "camera": c.name}


def lane_camera(camera: CameraModel | None, size_wh: tuple[int, int],
                calibration_frames: Iterable[np.ndarray] | None = None) -> LaneCamera:
    """The lane stage's camera for frames of ``size_wh`` (see the module docstring for the rules).

    Args:
        camera: from a camera file, or None. Its size must match ``size_wh`` (it is rescaled if it does not).
        size_wh: (width, height) of the raw frames, pixels.
        calibration_frames: raw BGR frames (H, W, 3) for the vanishing point, e.g. the first 2 s of the video;
            ignored when the camera's mounting is known.
    """
    if camera is not None and (camera.width_px, camera.height_px) != tuple(size_wh):
        camera = camera.scaled_to(*size_wh)
    if camera is not None and camera.mounting_known:
        return LaneCamera(camera, "camera_file", "camera_file", 0)
    base = camera if camera is not None else default_camera(*size_wh)
    base = base.with_mounting(height_m=DEFAULT_HEIGHT_M)
    pitch = yaw = 0.0
    source, used = "zero", 0
    if calibration_frames is not None:
        # only frames of the stream's size (image folders may mix sizes)
        frames = [f for f in calibration_frames if f.shape[:2] == (size_wh[1], size_wh[0])]
        for params in (LaneLineParams(), RELAXED_LANE_PARAMS):  # the relaxed search only when the default fails
            estimate = estimate_pitch_yaw(frames, base, params)
            if estimate.frames_used >= min(MIN_PITCH_FRAMES, len(frames)) and estimate.frames_used > 0:
                pitch, yaw = estimate.pitch_rad, estimate.yaw_rad
                source, used = "vanishing_point", estimate.frames_used
                break
    name = f"default mounting: height {DEFAULT_HEIGHT_M} m, pitch/yaw {source}"
    name = f"{base.name}; {name}" if base.name else name
    mounted = CameraModel(base.width_px, base.height_px, base.fx, base.fy, base.cx, base.cy, base.dist_coeffs,
                          height_m=DEFAULT_HEIGHT_M, pitch_rad=pitch, yaw_rad=yaw, roll_rad=base.roll_rad, name=name)
    return LaneCamera(mounted, "default_mounting", source, used)
