"""Lane lines in one still image (no tracking): for benchmarks on labelled stills and for quick looks.

:func:`detect_image_lanes` (BGR image, optional camera) -> labelled :class:`LaneLine` polylines in the image's
raw pixels, bottom to top. The camera is as in the video stage (:func:`perception.lanes.mounting.lane_camera`),
with the image itself as the only calibration frame, so pitch and yaw come from its own vanishing point (0 when
none is found).

Steps: the classical finder; a *second look* when it labels fewer than four lines, with thresholds adapted to
the frame's own noise (``ClassicalConfig.noise_k`` = :data:`FAINT_NOISE_K`), kept when it labels more lines
(worn paint, Botts' dots, haze, downscaled JPEGs); every polyline shifted onto the image ridges it lies near
(:mod:`perception.lanes.refine`) and ended exactly on the frame border where it leaves the image
(:func:`perception.lanes.sides.polyline_px`); *where lines end*: up to ``FAR_EXTENSION`` times the farthest
marking found, but no higher than ``LABEL_TOP_FRAC`` of the way from the horizon (of the still's own camera)
down to the bottom row, because TuSimple's labels stop short of the horizon and its accounting counts rows
past a label's end as misses; and all of this on four views of the still with their consensus as the answer
(:mod:`perception.lanes.views`). How each step and value was chosen, with its measurements: docs/history.md,
"Lanes".
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from calibration import CameraModel
from perception.lanes.bev import BevProjector
from perception.lanes.classical import ClassicalConfig, ClassicalLaneFinder, bev_channels, mask_from_channels
from perception.lanes.mounting import LaneCamera, lane_camera
from perception.lanes.network import observations_from_lane_lines
from perception.lanes.refine import RefineConfig, refine_lines
from perception.lanes.sides import assign_sides, polyline_px
from perception.lanes.views import View, ViewsConfig, consensus
from perception.results import LaneLine

__all__ = ["detect_image_lanes", "FAR_EXTENSION", "FAINT_NOISE_K", "LABEL_TOP_FRAC"]

FAR_EXTENSION = 3.0  # polylines reach this multiple of the farthest marking seen (flat-road extrapolation;
#   labelled lines run up to the horizon: on the LaneNet frames 1.5 -> 3.0 raised TuSimple accuracy by ~0.02)
LABEL_TOP_FRAC = 0.05  # ... but end no higher than this share of the way from the horizon down to the bottom row
#   (module docstring, "Where lines end"); 0 = no such limit
FAINT_NOISE_K = 2.0  # the second look's adaptive thresholds (module docstring); 0 turns the second look off
EXPECTED_LINES = 4  # lines a still should show: ego_left, ego_right, left_left, right_right


def detect_image_lanes(image_bgr: np.ndarray, camera: CameraModel | None = None,
                       config: ClassicalConfig = ClassicalConfig(), lane_cam: LaneCamera | None = None,
                       network_lanes: list[LaneLine] | None = None,
                       refine: RefineConfig | None = RefineConfig(),
                       views: ViewsConfig | None = ViewsConfig()) -> list[LaneLine]:
    """The labelled lane lines (ego_left, ego_right, left_left, right_right when seen) of one BGR frame.

    Lines come from the classical finder, or, when ``network_lanes`` (the lane head's polylines for this
    image) is given, from those, refitted on the road. Points are raw pixels of ``image_bgr`` (H, W, 3),
    bottom to top, from the bottom image row (or where the line leaves the frame sideways) to
    ``FAR_EXTENSION`` times the farthest marking found, or to the row where TuSimple's labels end when that is
    lower (``LABEL_TOP_FRAC``, module docstring). With the classical finder, a frame where fewer than
    four lines are found gets the second look of the module docstring (unless ``config.noise_k`` is set already
    or ``FAINT_NOISE_K`` is 0). Then, unless ``refine`` is None, each polyline is shifted onto the image ridges
    it lies near (:mod:`perception.lanes.refine`). With the classical finder and ``views`` (the default), all
    of this runs once per view (the image resized and mirrored, the camera with it) and the views' consensus
    is returned (:mod:`perception.lanes.views`); ``views=None`` runs it once on the image as it is. The
    network's polylines belong to the original image, so they always get the single view.
    """
    if views is None or network_lanes is not None:
        return _one_view(image_bgr, camera, config, lane_cam, network_lanes, refine)
    given = lane_cam.camera if lane_cam is not None else camera
    if views.mirror and given is not None and not given.mirrorable:
        views = replace(views, mirror=False, min_agree=min(views.min_agree, len(views.widths_px)))

    def one(view: View) -> list[LaneLine]:
        h, w = view.image_bgr.shape[:2]
        cam = given
        if cam is not None:
            cam = cam.scaled_to(w, h)
            cam = cam.mirrored() if view.mirrored else cam
        lc = replace(lane_cam, camera=cam) if lane_cam is not None else None
        return _one_view(view.image_bgr, cam, config, lc, None, refine)

    return consensus(image_bgr, one, views)


def _one_view(image_bgr: np.ndarray, camera: CameraModel | None, config: ClassicalConfig,
              lane_cam: LaneCamera | None, network_lanes: list[LaneLine] | None,
              refine: RefineConfig | None) -> list[LaneLine]:
    """The image as it is, seen once: :func:`detect_image_lanes` without the views."""
    h, w = image_bgr.shape[:2]
    lc = lane_cam if lane_cam is not None else lane_camera(camera, (w, h), [image_bgr])
    projector = BevProjector(lc.camera, config.grid)
    if network_lanes is not None:
        lines = sorted(observations_from_lane_lines(network_lanes, projector), key=lambda ln: -float(ln.coef[0]))
        out = _labelled(projector, lines)
    else:
        out = _classical(projector, image_bgr, config)
    return refine_lines(image_bgr, out, refine) if refine is not None else out


def _classical(projector: BevProjector, image_bgr: np.ndarray, config: ClassicalConfig) -> list[LaneLine]:
    """The classical finder's labelled lines, with the second look for faint frames (module docstring)."""
    channels = bev_channels(projector, image_bgr, config.blur_px)  # warped once, thresholded once or twice

    def look(cfg: ClassicalConfig) -> list[LaneLine]:
        mask = mask_from_channels(projector, *channels, cfg)
        return _labelled(projector, ClassicalLaneFinder(projector, cfg).lines_from_mask(mask))

    out = look(config)
    if len(out) < EXPECTED_LINES and config.noise_k == 0 and FAINT_NOISE_K > 0:
        second = look(replace(config, noise_k=FAINT_NOISE_K))
        if len(second) > len(out):
            out = second
    return out


def _labelled(projector: BevProjector, lines: list) -> list[LaneLine]:
    """LaneLines (raw-pixel polylines, bottom to top) of the observations that get a side label."""
    labels = assign_sides([float(ln.coef[0]) for ln in lines])
    x_bottom = projector.x_of_bottom_row()
    x_near = 0.9 * x_bottom if np.isfinite(x_bottom) else projector.grid.x_range_m[0]
    x_top = _label_top_x_m(projector)
    out = []
    for line, side in zip(lines, labels):
        if side is None:
            continue
        pts = polyline_px(projector, line.coef, x_near, min(FAR_EXTENSION * line.x_far_m, x_top))
        if len(pts) >= 2:
            out.append(LaneLine(id=len(out), side=side, points_xy=pts, confidence=line.support))
    return out


def _label_top_x_m(projector: BevProjector) -> float:
    """Road x (metres) of the image row ``LABEL_TOP_FRAC`` of the way from the horizon down to the bottom row, at
    the principal column (flat road); inf when there is no such limit or no horizon in the frame's geometry."""
    cam = projector.camera
    if LABEL_TOP_FRAC <= 0:
        return float("inf")
    v_horizon = float(projector.raw_from_road(np.array([[1e6, 0.0]]))[0, 1])  # a road point 1000 km ahead
    if not np.isfinite(v_horizon) or v_horizon >= cam.height_px - 1:
        return float("inf")
    v_horizon = max(v_horizon, 0.0)  # a horizon above the frame: measure from the top row
    v_top = v_horizon + LABEL_TOP_FRAC * (cam.height_px - 1 - v_horizon)
    x = float(projector.road_from_raw(np.array([[cam.cx, v_top]]))[0, 0])
    return x if np.isfinite(x) and x > 0 else float("inf")
