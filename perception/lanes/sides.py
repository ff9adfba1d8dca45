"""Which line is which: ego_left / ego_right / left_left / right_right from lateral positions, and polylines.

Sides are decided at x = 0, the road point below the camera (road frame: y left, metres): the nearest line
with y > 0 is ``ego_left``, the next one ``left_left``; the nearest with y < 0 is ``ego_right``, then
``right_right``. Lines further out are not reported. A pair of neighbours must be a plausible lane apart.
"""

from __future__ import annotations

import numpy as np

from perception.lanes.bev import BevProjector
from perception.lanes.model import poly_y

__all__ = ["SIDES", "assign_sides", "polyline_px"]

SIDES = ("left_left", "ego_left", "ego_right", "right_right")  # left to right
MIN_LANE_WIDTH_M = 2.2  # narrower "lanes" are two lines of one marking, or a line and a crack
MAX_LANE_WIDTH_M = 6.0  # generous: with the default mounting the metres are only roughly right


def assign_sides(y0_m: list[float], *, min_lane_m: float = MIN_LANE_WIDTH_M, max_lane_m: float = MAX_LANE_WIDTH_M,
                 sticky_sign: list[int] | None = None) -> list[str | None]:
    """Side label (or None) for lines at lateral positions ``y0_m`` (metres at x = 0, left positive).

    ``sticky_sign``: optional +1 (left) / -1 (right) per line that overrides the sign of ``y0_m`` (the tracker
    keeps a line on its side until it has clearly crossed under the car). A neighbour is labelled only if it
    lies between ``min_lane_m`` and ``max_lane_m`` beyond the ego line; an ego line only if it is at most
    ``max_lane_m`` from the car. Lines too close to a better-placed line on the same side are skipped.
    """
    signs = sticky_sign if sticky_sign is not None else [1 if y > 0 else -1 for y in y0_m]
    labels: list[str | None] = [None] * len(y0_m)
    for sign, names in ((1, ("ego_left", "left_left")), (-1, ("ego_right", "right_right"))):
        idx = sorted((i for i, s in enumerate(signs) if s == sign), key=lambda i: sign * y0_m[i])
        last_y: float | None = None
        k = 0
        for i in idx:
            y = y0_m[i]
            if k == 0:
                if abs(y) > max_lane_m:
                    break
            else:
                gap = sign * (y - last_y)
                if gap < min_lane_m:
                    continue  # a second line of the same marking (double line) or clutter beside it
                if gap > max_lane_m:
                    break
            labels[i] = names[k]
            last_y = y
            k += 1
            if k == len(names):
                break
    return labels


def polyline_px(projector: BevProjector, coef: np.ndarray, x_near_m: float, x_far_m: float,
                n: int = 40) -> np.ndarray:
    """Raw-pixel polyline float32[M, 2] of y = poly(x) from ``x_near_m`` to ``x_far_m``, bottom to top.

    Points are spaced evenly in image rows (evenly in 1/x on a flat road); points outside the frame are
    dropped, and where the line leaves the frame (the bottom row, a side) the polyline ends exactly on the border
    instead of at its last sample inside. M may be 0.
    """
    if x_far_m <= x_near_m:
        return np.zeros((0, 2), np.float32)
    x = 1.0 / np.linspace(1.0 / x_near_m, 1.0 / x_far_m, n)  # (n,) metres, near to far
    uv = projector.raw_from_road(np.column_stack([x, poly_y(coef, x)]))
    cam = projector.camera
    hi = np.array([cam.width_px - 1.0, cam.height_px - 1.0])
    finite = np.all(np.isfinite(uv), axis=1)
    inside = finite & np.all(uv >= 0, axis=1) & np.all(uv <= hi, axis=1)
    idx = np.nonzero(inside)[0]
    if len(idx) == 0:
        return np.zeros((0, 2), np.float32)
    first, last = idx[0], idx[-1]
    out = [uv[inside]]
    if first > 0 and finite[first - 1]:
        out.insert(0, _border_point(uv[first], uv[first - 1], hi)[None])
    if last < n - 1 and finite[last + 1]:
        out.append(_border_point(uv[last], uv[last + 1], hi)[None])
    return np.concatenate(out).astype(np.float32)


def _border_point(inner: np.ndarray, outer: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Where the segment from ``inner`` (inside [0, hi]) to ``outer`` (outside) crosses the frame border."""
    d = outer - inner
    t = 1.0
    for k in range(2):
        if d[k] > 0:
            t = min(t, (hi[k] - inner[k]) / d[k])
        elif d[k] < 0:
            t = min(t, -inner[k] / d[k])
    return inner + max(0.0, t) * d
