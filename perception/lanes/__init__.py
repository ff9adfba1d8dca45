"""Lane lines as tracked instances: ego lane, offset and curvature over time (bird's-eye view, road frame).

Flow per frame (:class:`LaneStage`)::

    raw frame --classical finder (BEV colour + gradient thresholds, histogram peaks, windows)--+
    result.lanes from the lane head (network polylines) --fit on the road------------------------+
                                                                                                  v
        line observations y(x) = c0 + c1 x + c2 x^2 (road frame, metres) --> LaneTracker (Kalman per line,
        association, hold-then-drop, sides with hysteresis, lane-change events) --> result.lanes (id, side,
        points_xy in raw pixels, confidence) and result.ego (offset, width, curvature, lane change)

Frames and units: road frame x forward, y left, metres, origin on the road below the camera (conventions in
``calibration/__init__.py``). Camera and mounting: :mod:`perception.lanes.mounting` (a camera file with a
mounting, else the default mounting: height 1.5 m, pitch/yaw from the lane vanishing point).

Public API
----------
make_lane_stage(camera, size_wh, source=, calibration_frames=, config=) -> LaneStage   the pipeline stage
LaneStage(result, image_bgr)                 fills result.lanes and result.ego; .summary() for summary.json
hud_lines(ego)                               HUD text for the annotated video
detect_image_lanes(image_bgr, camera=None)   labelled lines of one still (no tracking; 4 views' consensus)
lane_camera, LaneCamera, DEFAULT_HEIGHT_M    which camera/mounting is used
ClassicalLaneFinder, ClassicalConfig, LaneTracker, TrackerConfig, BevGrid, BevProjector, LineObservation
"""

from perception.lanes.bev import BevGrid, BevProjector
from perception.lanes.classical import ClassicalConfig, ClassicalLaneFinder
from perception.lanes.ego import EgoConfig
from perception.lanes.model import LineObservation
from perception.lanes.mounting import DEFAULT_HEIGHT_M, LaneCamera, lane_camera
from perception.lanes.single import detect_image_lanes
from perception.lanes.stage import LANE_SOURCES, LaneStage, LaneStageConfig, hud_lines, make_lane_stage
from perception.lanes.tracker import LaneTracker, TrackerConfig

# The lane source perception.run and perception.evaluate use unless told otherwise (benchmarks/lanes.py reports every
# source). Chosen on 2026-12-05 (docs/history.md, "Lanes"): on the CULane night frames, unseen by every source, the
# classical finder scores F1 0.40 (0.35 with the four views stills use since, for TuSimple's 200 ms rule) and the
# network's lane heads 0.00; the row-anchor head leads only on the CULane val block it was selected on (0.31 vs 0.26).
DEFAULT_LANE_SOURCE = "classical"

__all__ = [
    "BevGrid",
    "BevProjector",
    "ClassicalConfig",
    "ClassicalLaneFinder",
    "DEFAULT_HEIGHT_M",
    "DEFAULT_LANE_SOURCE",
    "EgoConfig",
    "LANE_SOURCES",
    "LaneCamera",
    "LaneStage",
    "LaneStageConfig",
    "LaneTracker",
    "LineObservation",
    "TrackerConfig",
    "detect_image_lanes",
    "hud_lines",
    "lane_camera",
    "make_lane_stage",
]
