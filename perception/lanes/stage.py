"""The lane stage of the pipeline: lines per frame (classical finder or network) -> tracker -> lanes + ego.

Called once per frame, after postprocessing, with the FrameResult and the raw BGR frame::

    stage = make_lane_stage(camera, (W, H), source="classical", calibration_frames=first_frames)
    stage(result, frame_bgr)   # replaces result.lanes with tracked lines, sets result.ego

``result.lanes`` becomes the tracked lines that have a side (ego_left, ego_right, left_left, right_right),
each with its track ``id`` (stable across frames), ``points_xy`` in raw pixels (bottom to top) and a
``confidence`` (the finder's support, halved while a line is only held); ``result.ego`` is described in
:mod:`perception.lanes.ego`.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from calibration import CameraModel
from perception.lanes.bev import BevProjector
from perception.lanes.classical import ClassicalConfig, ClassicalLaneFinder, bev_channels
from perception.lanes.ego import EgoConfig, EgoEstimator
from perception.lanes.flow_speed import FlowSpeedConfig, LaneFlowSpeed
from perception.lanes.mounting import LaneCamera, lane_camera
from perception.lanes.network import NetworkLinesConfig, observations_from_lane_lines
from perception.lanes.sides import SIDES, polyline_px
from perception.lanes.tracker import LaneTracker, TrackerConfig
from perception.results import FrameResult, LaneLine

__all__ = ["LANE_SOURCES", "LaneStageConfig", "LaneStage", "make_lane_stage", "hud_lines"]

LANE_SOURCES = ("classical", "network")
HELD_CONFIDENCE_FACTOR = 0.5  # a held (unseen, predicted) line reports this share of its support


@dataclass(frozen=True)
class LaneStageConfig:
    classical: ClassicalConfig = field(default_factory=ClassicalConfig)  # the classical finder
    network: NetworkLinesConfig = field(default_factory=NetworkLinesConfig)  # network polylines -> lines
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    ego: EgoConfig = field(default_factory=EgoConfig)
    far_extension: float = 2.0  # reported polylines reach this multiple of the farthest marking seen
    flow_speed: FlowSpeedConfig | None = field(default_factory=FlowSpeedConfig)  # ego speed from the dashes
    #   motion (``ego.lane_flow_speed_mps``); None: not estimated
    full_search_every: int = 10  # classical source: the road-model search covers the whole grid on every Nth
    #   frame and after a frame without lines; in between only the fine grid near the previous frame's model
    #   (1 = always the whole grid; 10 halves the stage's time, same lanes within 2 cm on the clip and drives)


class LaneStage:
    """Per-frame lane tracking for one camera (see the module docstring).

    Args:
        lane_cam: camera and mounting (:func:`perception.lanes.mounting.lane_camera`).
        source: "classical" (lines found in the frame) or "network" (the lane head's polylines already in
            ``result.lanes``).
        first_track_id: id of the first lane track (a resumed run continues the earlier parts' numbering).
    """

    def __init__(self, lane_cam: LaneCamera, source: str = "classical", config: LaneStageConfig = LaneStageConfig(),
                 first_track_id: int = 0):
        if source not in LANE_SOURCES:
            raise ValueError(f"unknown lane source {source!r}; expected one of {LANE_SOURCES}")
        self.lane_cam = lane_cam
        self.source = source
        self.config = config
        self.projector = BevProjector(lane_cam.camera, config.classical.grid)
        self.finder = ClassicalLaneFinder(self.projector, config.classical) if source == "classical" else None
        self.tracker = LaneTracker(config.tracker, next_id=int(first_track_id))
        self.first_track_id = int(first_track_id)
        self.ego = EgoEstimator(lane_cam.geometry, config.ego)
        self.flow = LaneFlowSpeed(self.projector, config.flow_speed) if config.flow_speed is not None else None
        self.frames_flow_speed = 0  # frames with a lane-flow speed
        x_bottom = self.projector.x_of_bottom_row()
        self._x_draw_near_m = 0.9 * x_bottom if np.isfinite(x_bottom) else self.projector.grid.x_range_m[0]
        self._prior_model = None  # the classical finder's road model of the previous frame
        self._since_full = 0  # frames since the last search over the whole grid
        self.frames = 0
        self.frames_skipped = 0  # frames of another size than the camera's (left without lanes)
        self.frames_both_ego = 0
        self.time_ms = 0.0

    def reset(self) -> None:
        """Forget every earlier frame: the next frame is read on its own (unrelated stills), and a line seen once
        is reported at once. Track ids go on from where they were; the counts in ``summary()`` go on too."""
        changes = self.tracker.lane_changes
        self.tracker = LaneTracker(replace(self.config.tracker, confirm_hits=1), next_id=self.tracker.next_id)
        self.tracker.lane_changes = changes
        self.ego = EgoEstimator(self.lane_cam.geometry, self.config.ego)
        if self.flow is not None:
            self.flow.reset()
        self._prior_model = None
        self._since_full = 0

    def __call__(self, result: FrameResult, image_bgr: np.ndarray | None = None) -> None:
        """Replace ``result.lanes`` with the tracked lines and set ``result.ego`` (see the module docstring)."""
        t0 = time.perf_counter()
        cam = self.lane_cam.camera
        if image_bgr is not None and image_bgr.shape[:2] != (cam.height_px, cam.width_px):
            # A frame of another size than the stream's first (image folders can mix sizes): no lanes for it.
            self.frames_skipped += 1
            result.ego = None
            return
        if self.source == "classical":
            if image_bgr is None:
                raise ValueError("the classical lane source needs the frame (image_bgr)")
            local = self._prior_model is not None and self._since_full + 1 < self.config.full_search_every
            observations = self.finder(image_bgr, self._prior_model, local=local)
            self._since_full = self._since_full + 1 if local else 0
            self._prior_model = self.finder.last_model if observations else None
        else:
            observations = observations_from_lane_lines(result.lanes, self.projector, self.config.network)
        out = self.tracker.update(observations, result.timestamp_s)
        lanes: list[LaneLine] = []
        by_side = {}
        for track, side, held in zip(out.tracks, out.sides, out.held):
            if side is None:
                continue
            by_side[side] = track
            pts = polyline_px(self.projector, track.coef, self._x_draw_near_m,
                              max(self.config.far_extension * track.x_far_m, self._x_draw_near_m + 1.0))
            if len(pts) < 2:
                continue
            conf = track.support * (HELD_CONFIDENCE_FACTOR if held else 1.0)
            lanes.append(LaneLine(id=track.id, side=side, points_xy=pts, confidence=float(conf)))
        lanes.sort(key=lambda lane: SIDES.index(lane.side))
        result.lanes = lanes
        result.ego = self.ego(by_side.get("ego_left"), by_side.get("ego_right"), out.lane_change)
        speed = self._flow_speed(image_bgr, [(t.id, t.coef) for t, side, held in zip(out.tracks, out.sides, out.held)
                                             if side is not None and not held], result.timestamp_s)
        result.ego["lane_flow_speed_mps"] = None if speed is None else round(speed["speed_mps"], 2)
        result.ego["lane_flow_error_mps"] = None if speed is None else round(speed["error_mps"], 2)
        self.frames_flow_speed += speed is not None
        self.frames += 1
        self.frames_both_ego += int("ego_left" in by_side and "ego_right" in by_side)
        self.time_ms += (time.perf_counter() - t0) * 1000.0

    def _flow_speed(self, image_bgr: np.ndarray | None, tracks: list, t_s: float) -> dict | None:
        if self.flow is None or image_bgr is None:
            return None
        luma = self.finder.last_luma if self.finder is not None else \
            bev_channels(self.projector, image_bgr, self.config.classical.blur_px)[0]
        return self.flow(luma, tracks, t_s)

    def summary(self) -> dict[str, Any]:
        """The ``lanes`` block for summary.json: source, camera/mounting used, counts and events."""
        return {"source": self.source, "mounting": self.lane_cam.summary(), "frames": self.frames,
                "frames_skipped_other_size": self.frames_skipped,
                "frames_with_both_ego_lines": self.frames_both_ego,
                "frames_with_lane_flow_speed": self.frames_flow_speed,
                "tracks_started": self.tracker.next_id - self.first_track_id,
                "next_track_id": self.tracker.next_id,
                "lane_changes": [{"timestamp_s": round(t, 3), "direction": d} for t, d in self.tracker.lane_changes],
                "mean_ms": round(self.time_ms / self.frames, 2) if self.frames else None}


def make_lane_stage(camera: CameraModel | None, size_wh: tuple[int, int], *, source: str = "classical",
                    calibration_frames: Iterable[np.ndarray] | None = None,
                    config: LaneStageConfig = LaneStageConfig(), first_track_id: int = 0) -> LaneStage:
    """The lane stage for raw frames of ``size_wh`` (width, height) pixels.

    ``camera``: from ``--camera`` (or None); without a mounting in it, the default mounting is used with pitch
    and yaw from the vanishing point of ``calibration_frames`` (e.g. the first 50 frames), see
    :mod:`perception.lanes.mounting`. ``first_track_id``: id of the first lane track (0; a resumed run passes the
    earlier parts' ``lanes.next_track_id``).
    """
    return LaneStage(lane_camera(camera, size_wh, calibration_frames), source, config, first_track_id)


def hud_lines(ego: dict[str, Any] | None) -> list[str]:
    """One or two short HUD lines for the annotated video from ``result.ego`` (empty when there is none)."""
    if not ego:
        return []
    if ego.get("lane_offset_m") is None:
        return ["lane: no ego lines"]
    side = "right" if ego["lane_offset_m"] > 0 else "left"
    radius = ego.get("curvature_radius_m")
    bend = "straight" if radius is None else f"R {radius:.0f} m {'left' if ego['curvature_1pm'] > 0 else 'right'}"
    tag = "" if ego.get("geometry") == "camera_file" else " (default mounting)"
    first = f"lane offset {abs(ego['lane_offset_m']):.2f} m {side}  width {ego['lane_width_m']:.2f} m  {bend}{tag}"
    return [first] + ([f"LANE CHANGE {ego['lane_change'].upper()}"] if ego.get("lane_change") else [])
