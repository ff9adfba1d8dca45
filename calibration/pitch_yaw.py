"""Camera pitch and yaw from the lane-line vanishing point, accumulated over video frames behind a gate.

Assumptions (they are what make the answer meaningful): the road is flat and straight over the frames used,
the car drives parallel to the lane lines (then the lines' vanishing point is the direction of travel), and
the roll is known (``camera.roll_rad``, 0 for a level camera; roll is not observable from one point).
Pitch and yaw come out relative to the road and the direction of travel (conventions:
``calibration/__init__.py``); the height cannot be seen this way and is left as it was.

Per frame: vanishing point (:mod:`calibration.vanishing`) -> (pitch, yaw). A frame is used only if
(1) lane segments were found on both sides and meet in one point, (2) the angles are within a sane window
(``max_abs_pitch_deg``, ``max_abs_yaw_deg``), and (3) after ``warmup_frames`` used frames, both angles are
within ``consistency_deg`` of the running median. The estimate is the median of the used frames. It is
reported as converged when at least ``min_frames`` frames were used and the median of the first half of them
agrees with the median of all of them within ``max_drift_deg`` for both angles.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from calibration.camera import CameraModel
from calibration.frames import mounting_angles_from_forward_direction
from calibration.vanishing import LaneLineParams, detect_vanishing_point

__all__ = [
    "PitchYawGate",
    "FrameEstimate",
    "PitchYawEstimate",
    "pitch_yaw_from_vanishing_point",
    "estimate_pitch_yaw",
    "format_pitch_yaw_report",
]


@dataclass(frozen=True)
class PitchYawGate:
    max_abs_pitch_deg: float = 15.0  # per-frame sanity window on the pitch
    max_abs_yaw_deg: float = 15.0  # ... and on the yaw
    consistency_deg: float = 1.0  # max distance from the running median (either angle) once warmed up
    warmup_frames: int = 5  # used frames before the consistency check starts
    min_frames: int = 20  # used frames needed to call the estimate converged
    max_drift_deg: float = 0.25  # first-half median vs. overall median, needed to call it converged


@dataclass(frozen=True)
class FrameEstimate:
    frame: int  # index in the input sequence
    vp_uv_px: tuple[float, float] | None  # undistorted pixels
    pitch_rad: float  # nan when no VP
    yaw_rad: float
    used: bool
    reason: str  # "" when used


@dataclass(frozen=True)
class PitchYawEstimate:
    frames_read: int
    frames_used: int
    pitch_rad: float  # median over used frames; nan when none
    yaw_rad: float
    pitch_spread_deg: float  # robust per-frame spread: 1.4826 * MAD, degrees
    yaw_spread_deg: float
    pitch_first_half_deg: float  # median of the first half of the used frames (convergence check)
    yaw_first_half_deg: float
    converged: bool
    rejected: dict[str, int]  # reason -> frames
    frames: tuple[FrameEstimate, ...]

    @property
    def pitch_deg(self) -> float:
        return math.degrees(self.pitch_rad)

    @property
    def yaw_deg(self) -> float:
        return math.degrees(self.yaw_rad)


def pitch_yaw_from_vanishing_point(camera: CameraModel, vp_uv_px: tuple[float, float]) -> tuple[float, float]:
    """``(pitch_rad, yaw_rad)`` that put road +x at the undistorted pixel ``vp_uv_px`` (given the camera's roll)."""
    ray = np.linalg.solve(camera.K, np.array([vp_uv_px[0], vp_uv_px[1], 1.0]))  # camera frame, z = 1
    return mounting_angles_from_forward_direction(ray, camera.roll_rad)


def _robust_sigma_deg(values_rad: np.ndarray) -> float:
    if len(values_rad) == 0:
        return float("nan")
    return float(np.degrees(1.4826 * np.median(np.abs(values_rad - np.median(values_rad)))))


def estimate_pitch_yaw(
    frames: Iterable[np.ndarray],
    camera: CameraModel,
    params: LaneLineParams = LaneLineParams(),
    gate: PitchYawGate = PitchYawGate(),
) -> PitchYawEstimate:
    """Estimate pitch and yaw from raw BGR frames (H, W, 3) of ``camera``."""
    results: list[FrameEstimate] = []
    used_pitch: list[float] = []
    used_yaw: list[float] = []
    for index, frame in enumerate(frames):
        vp = detect_vanishing_point(frame, camera, params)
        if vp.uv_px is None:
            results.append(FrameEstimate(index, None, math.nan, math.nan, False, vp.reason))
            continue
        pitch, yaw = pitch_yaw_from_vanishing_point(camera, vp.uv_px)
        reason = ""
        if abs(math.degrees(pitch)) > gate.max_abs_pitch_deg or abs(math.degrees(yaw)) > gate.max_abs_yaw_deg:
            reason = "vanishing point outside the sane window"
        elif len(used_pitch) >= gate.warmup_frames and (
            abs(math.degrees(pitch - float(np.median(used_pitch)))) > gate.consistency_deg
            or abs(math.degrees(yaw - float(np.median(used_yaw)))) > gate.consistency_deg
        ):
            reason = "inconsistent with the running median"
        if not reason:
            used_pitch.append(pitch)
            used_yaw.append(yaw)
        results.append(FrameEstimate(index, vp.uv_px, pitch, yaw, not reason, reason))

    pitches, yaws = np.array(used_pitch), np.array(used_yaw)
    n = len(pitches)
    median = (lambda a: float(np.median(a)) if len(a) else math.nan)
    half = max(1, n // 2)
    pitch, yaw = median(pitches), median(yaws)
    pitch_half, yaw_half = math.degrees(median(pitches[:half])), math.degrees(median(yaws[:half]))
    converged = (
        n >= gate.min_frames
        and abs(pitch_half - math.degrees(pitch)) <= gate.max_drift_deg
        and abs(yaw_half - math.degrees(yaw)) <= gate.max_drift_deg
    )
    return PitchYawEstimate(
        frames_read=len(results),
        frames_used=n,
        pitch_rad=pitch,
        yaw_rad=yaw,
        pitch_spread_deg=_robust_sigma_deg(pitches),
        yaw_spread_deg=_robust_sigma_deg(yaws),
        pitch_first_half_deg=pitch_half,
        yaw_first_half_deg=yaw_half,
        converged=converged,
        rejected=dict(Counter(r.reason for r in results if not r.used)),
        frames=tuple(results),
    )


def format_pitch_yaw_report(estimate: PitchYawEstimate) -> str:
    """Convergence report: frames used, medians, spread, first-half medians, converged yes/no, rejections."""
    e = estimate
    lines = [
        f"frames used {e.frames_used} of {e.frames_read}",
        f"pitch {e.pitch_deg:+.2f} deg (spread {e.pitch_spread_deg:.2f}, first half {e.pitch_first_half_deg:+.2f})",
        f"yaw   {e.yaw_deg:+.2f} deg (spread {e.yaw_spread_deg:.2f}, first half {e.yaw_first_half_deg:+.2f})",
        f"converged: {'yes' if e.converged else 'no'}",
    ]
    for reason, count in sorted(e.rejected.items(), key=lambda kv: -kv[1]):
        lines.append(f"rejected {count} frames: {reason}")
    return "\n".join(lines)
