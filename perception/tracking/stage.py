"""The tracking stage of the pipeline: track ids, track age, ground position and velocity on detections.

The postprocessor decodes boxes down to the tracker's ``low_score``; this stage keeps every box at or above
the user's ``--conf`` (with its ``track_id`` once its track is confirmed) and a weaker box only when it
continues a confirmed track (ByteTrack's second association). With a camera that has a mounting, each
tracked box's bottom centre is placed on the road and the track's velocity is the least-squares slope of
those positions over the last ``velocity_window_s`` seconds (relative to the ego: the camera moves with it).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from perception.results import FrameResult
from perception.tracking.bytetrack import ByteTracker, TrackerConfig

VELOCITY_WINDOW_S = 1.0   # history used for the ground velocity
MIN_VELOCITY_POINTS = 5   # positions needed before a velocity is reported


class TrackingStage:
    """Callable per frame: ``stage(result)`` rewrites ``result.detections`` with track information.

    Args:
        conf_threshold: the user's detection threshold (boxes below it are kept only inside tracks).
        ground_camera: a CameraModel with a mounting for ground positions, or None (image-only tracking).
        config: association thresholds (``high_score`` is raised to at least ``conf_threshold``).
        ground_source: what to call the mounting's origin in summary.json.
        first_track_id: id of the first track; a resumed run passes the earlier parts' ``next_track_id``
            (summary.json ``tracking.next_track_id``) so that one id never names two objects.
    """

    def __init__(self, conf_threshold: float, ground_camera: Any | None = None,
                 config: TrackerConfig | None = None, ground_source: str | None = None,
                 first_track_id: int = 1) -> None:
        base = config or TrackerConfig()
        self.config = dataclasses.replace(base, high_score=max(base.high_score, conf_threshold),
                                          low_score=min(base.low_score, conf_threshold))
        self.conf_threshold = conf_threshold
        self.tracker = ByteTracker(self.config, first_id=first_track_id)
        self.ground_camera = ground_camera
        self.tracks_seen: set[int] = set()
        # where the mounting for ground positions came from (summary.json): camera_file, default_mounting, none
        self.ground_source = ground_source or ("camera_file" if ground_camera is not None else "none")

    def reset(self) -> None:
        """Forget every track (the next frame is unrelated to this one); ids go on from where they were."""
        self.tracker = ByteTracker(self.config, first_id=self.tracker.next_id)

    @property
    def decode_threshold(self) -> float:
        """The score the postprocessor must decode down to."""
        return self.config.low_score

    def __call__(self, result: FrameResult) -> None:
        dets = result.detections
        boxes = np.array([d.box_xyxy for d in dets], dtype=np.float64).reshape(-1, 4)
        tracks = self.tracker.update(boxes, np.array([d.score for d in dets]), np.array([d.class_id for d in dets]))
        by_index = {t.detection_index: t for t in tracks}
        ground: dict[int, np.ndarray] = {}
        if self.ground_camera is not None and by_index:
            from perception.geometry import road_xy_from_boxes

            # Ground points of the tracked boxes only, from their Kalman-filtered boxes (steadier velocities).
            indices = list(by_index)
            points = road_xy_from_boxes(self.ground_camera, np.array([by_index[i].box_xyxy for i in indices]))
            ground = dict(zip(indices, points))
        kept = []
        for i, det in enumerate(dets):
            track = by_index.get(i)
            if track is None:
                if det.score >= self.conf_threshold:
                    kept.append(det)
                continue
            det.track_id = track.track_id
            det.track_age_frames = track.age_frames
            self.tracks_seen.add(track.track_id)
            point = ground.get(i)
            if point is not None and np.all(np.isfinite(point)):
                track.history.append((result.timestamp_s, float(point[0]), float(point[1])))
                det.ground_xy_m = (float(point[0]), float(point[1]))
                det.velocity_xy_mps = _velocity(track.history, result.timestamp_s)
            kept.append(det)
        result.detections = kept

    def summary(self) -> dict[str, Any]:
        c = self.config
        return {"method": "bytetrack", "tracks": len(self.tracks_seen), "high_score": c.high_score,
                "low_score": c.low_score, "confirm_frames": c.confirm_frames, "max_lost_frames": c.max_lost_frames,
                "ground_positions": self.ground_source, "next_track_id": self.tracker.next_id}


def _velocity(history: list[tuple[float, float, float]], now_s: float) -> tuple[float, float] | None:
    """Least-squares (vx, vy) m/s over the positions of the last VELOCITY_WINDOW_S; trims the history."""
    while history and history[0][0] < now_s - VELOCITY_WINDOW_S:
        history.pop(0)
    if len(history) < MIN_VELOCITY_POINTS:
        return None
    t = np.array([h[0] for h in history])
    if t.max() - t.min() < 1e-6:
        return None
    xy = np.array([[h[1], h[2]] for h in history])
    slope = np.polyfit(t - t.mean(), xy, 1)[0]  # (2,) metres per second
    return float(slope[0]), float(slope[1])
