"""The network's per-frame lane polylines (perception/postprocess/lanes.py) as road-frame line observations.

Each polyline (raw pixels, (N, 2)) is undistorted and put on the road (flat road, the stage's camera), cut to
the BEV's forward range, and fitted with the same quadratic and priors as the classical finder's lines.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from perception.lanes.bev import BevProjector
from perception.lanes.model import FitPrior, LineObservation, fit_line
from perception.results import LaneLine

__all__ = ["NetworkLinesConfig", "observations_from_lane_lines"]


@dataclass(frozen=True)
class NetworkLinesConfig:
    min_points: int = 5  # polyline points on the road within the BEV range
    min_span_m: float = 4.0  # forward span of those points, metres
    prior: FitPrior = field(default_factory=FitPrior)


def observations_from_lane_lines(lanes: list[LaneLine], projector: BevProjector,
                                 config: NetworkLinesConfig = NetworkLinesConfig()) -> list[LineObservation]:
    """Road-frame observations of the polylines in ``lanes`` (raw pixels); too short ones are dropped."""
    x_min, x_max = projector.grid.x_range_m
    out = []
    for lane in lanes:
        xy = projector.road_from_raw(np.asarray(lane.points_xy, np.float64))  # (N, 2) metres, NaN above horizon
        ok = np.all(np.isfinite(xy), axis=1) & (xy[:, 0] >= x_min) & (xy[:, 0] <= x_max)
        xy = xy[ok]
        if len(xy) < config.min_points or np.ptp(xy[:, 0]) < config.min_span_m:
            continue
        # Polylines are sampled evenly in image rows, i.e. densely near the car: weight points by their
        # forward spacing so that every metre of road counts about the same.
        order = np.argsort(xy[:, 0])
        xy = xy[order]
        spacing = np.gradient(xy[:, 0]) if len(xy) > 1 else np.ones(1)
        coef, cov = fit_line(xy[:, 0], xy[:, 1], np.maximum(spacing, 1e-3), config.prior)
        out.append(LineObservation(coef=coef, cov=cov, x_near_m=float(xy[0, 0]), x_far_m=float(xy[-1, 0]),
                                   support=float(np.clip(lane.confidence, 0.0, 1.0))))
    return out
