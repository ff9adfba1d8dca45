"""The ego vehicle's place in its lane, from the tracked ego lines: the ``ego`` block of each frame.

All quantities refer to x = 0, the road point below the camera (road frame: x forward, y left, metres):

* ``lane_offset_m``: the car's (camera's) lateral position relative to the lane centre, + = car right of
  the centre. With both ego lines: their midpoint; with one: that line and the last measured lane width.
* ``lane_width_m``: distance between the ego lines (the last measured width when only one is seen).
* ``curvature_1pm``: signed curvature of the lane, 1/m, + = bending left; the ego lines' estimates averaged
  by their precision. ``curvature_radius_m`` = 1 / |curvature|, null when the radius is above
  ``straight_radius_m`` (a straight road) or no ego line is tracked.
* ``heading_rad``: the lane's direction relative to the camera's forward axis (+ = lane turns away to the
  left, i.e. the car points right of the lane).
* ``lane_change``: "left" / "right" on the frame the car's centre line crosses a lane line, else null.
* ``lines``: which ego lines were used: "both", "left", "right" or "none" (then the metric fields are null).
* ``geometry``: where the metres come from: "camera_file" or "default_mounting" (see
  :mod:`perception.lanes.mounting`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from perception.lanes.model import curvature_1pm
from perception.lanes.tracker import LaneTrack

__all__ = ["EgoConfig", "EgoEstimator"]


@dataclass(frozen=True)
class EgoConfig:
    straight_radius_m: float = 3000.0  # radii above this are reported as straight (null)
    width_smoothing: float = 0.1  # EMA factor of the remembered lane width (for one-line frames)
    min_width_m: float = 2.2  # ego-line pairs narrower or wider than this are not a lane: use one line only
    max_width_m: float = 6.0


class EgoEstimator:
    """Turns the ego tracks of each frame into the ``ego`` dict; remembers the lane width between frames."""

    def __init__(self, geometry: str, config: EgoConfig = EgoConfig()):
        self.geometry = geometry
        self.config = config
        self.width_m: float | None = None  # remembered lane width, metres

    def __call__(self, left: LaneTrack | None, right: LaneTrack | None, lane_change: str | None) -> dict[str, Any]:
        cfg = self.config
        out: dict[str, Any] = {"geometry": self.geometry, "lines": "none", "lane_offset_m": None,
                               "lane_width_m": None, "curvature_radius_m": None, "curvature_1pm": None,
                               "heading_rad": None, "lane_change": lane_change}
        if left is not None and right is not None:
            width = float(left.state[0] - right.state[0])
            if cfg.min_width_m <= width <= cfg.max_width_m:
                a = cfg.width_smoothing
                self.width_m = width if self.width_m is None else (1 - a) * self.width_m + a * width
                centre = 0.5 * float(left.state[0] + right.state[0])
                return self._fill(out, "both", centre, width, [left, right])
            # Not a plausible lane: keep the line nearer to the car.
            if abs(left.state[0]) < abs(right.state[0]):
                right = None
            else:
                left = None
        if self.width_m is None or (left is None and right is None):
            return out
        if left is not None:
            return self._fill(out, "left", float(left.state[0]) - self.width_m / 2, self.width_m, [left])
        return self._fill(out, "right", float(right.state[0]) + self.width_m / 2, self.width_m, [right])

    def _fill(self, out: dict[str, Any], lines: str, centre_m: float, width_m: float,
              tracks: list[LaneTrack]) -> dict[str, Any]:
        var = np.array([t.cov[2, 2] for t in tracks])  # (k,) variance of c2 per line
        w = 1.0 / np.maximum(var, 1e-12)
        coef = np.sum([wi * t.coef for wi, t in zip(w, tracks)], axis=0) / w.sum()  # (3,) precision-weighted
        kappa = curvature_1pm(coef, 0.0)
        radius = None if abs(kappa) < 1.0 / self.config.straight_radius_m else 1.0 / abs(kappa)
        out.update({"lines": lines, "lane_offset_m": round(centre_m, 3), "lane_width_m": round(width_m, 3),
                    "curvature_1pm": round(kappa, 6),
                    "curvature_radius_m": None if radius is None else round(radius, 1),
                    "heading_rad": round(float(coef[1]), 4)})
        return out
