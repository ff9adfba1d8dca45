"""What the pipeline produces for one frame (in original camera pixels)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Detection:
    """One detected object.

    box_xyxy: (x1, y1, x2, y2) in original image pixels, edge coordinates (0 <= x1 < x2 <= W).
    distance_m: longitudinal distance on the road to the box's bottom centre, when the camera is
        calibrated with a known mounting; otherwise None.
    track_id / track_age_frames: from the tracker (None until the track is confirmed).
    ground_xy_m: (x forward, y left) road position of the box's bottom centre, metres (calibration road frame),
        for tracked boxes when a mounting is known (``--camera``, or the lane stage's default mounting).
    velocity_xy_mps: the track's road velocity relative to the ego (m/s, same axes), once 5 positions exist.
    """

    label: str
    class_id: int
    score: float
    box_xyxy: tuple[float, float, float, float]
    track_id: int | None = None
    distance_m: float | None = None
    track_age_frames: int | None = None
    ground_xy_m: tuple[float, float] | None = None
    velocity_xy_mps: tuple[float, float] | None = None

    def to_json(self) -> dict[str, Any]:
        def rounded(v: Any) -> Any:
            return None if v is None else [round(float(x), 2) for x in v]

        return {"label": self.label, "class_id": self.class_id, "score": round(self.score, 4),
                "box_xyxy": [round(float(v), 2) for v in self.box_xyxy], "track_id": self.track_id,
                "distance_m": None if self.distance_m is None else round(float(self.distance_m), 2),
                "track_age_frames": self.track_age_frames, "ground_xy_m": rounded(self.ground_xy_m),
                "velocity_xy_mps": rounded(self.velocity_xy_mps)}


@dataclass
class LaneLine:
    """One lane line: points (N, 2) (x, y) in original image pixels (pixel centres), bottom to top.

    side: "ego_left", "ego_right", "left_left", "right_right" or "other" (relative to the image centre).
    """

    id: int
    side: str
    points_xy: np.ndarray
    confidence: float

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "side": self.side, "confidence": round(self.confidence, 4),
                "points_xy": [[round(float(x), 1), round(float(y), 1)] for x, y in self.points_xy]}


@dataclass
class FrameResult:
    """Everything the network and postprocessing say about one frame.

    seg_labels: uint8 (H, W) class index per original pixel (255 where outside the network's view),
        or None when segmentation was not computed.
    seg_fractions: class name -> fraction of the image's pixels.
    ego_speed_mps: the ego's measured speed from the input (a log's odometry), None when it gives none; the
        planner records what it used in ``plan``.
    """

    frame: int
    timestamp_s: float
    detections: list[Detection] = field(default_factory=list)
    lanes: list[LaneLine] = field(default_factory=list)
    seg_labels: np.ndarray | None = None
    seg_fractions: dict[str, float] = field(default_factory=dict)
    plan: dict[str, Any] | None = None
    ego: dict[str, Any] | None = None
    ego_speed_mps: float | None = None

    def to_json(self) -> dict[str, Any]:
        """The frames.jsonl record (see README, "Output files")."""
        return {"frame": self.frame, "timestamp_s": round(self.timestamp_s, 6), "status": "ok",
                "detections": [d.to_json() for d in self.detections],
                "lanes": [lane.to_json() for lane in self.lanes],
                "segmentation": {k: round(v, 5) for k, v in self.seg_fractions.items()},
                "ego": self.ego, "plan": self.plan}
