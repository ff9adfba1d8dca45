"""Lane-line helpers shared by the lane readers and the transforms.

A lane is ``float32[N, 2]`` of ``(x, y)`` pixel-centre points ordered from the bottom of the image to the
top (see ``datasets.sample``).
"""

from __future__ import annotations

import numpy as np

from .classes import LANE_SIDES


def order_bottom_to_top(points: np.ndarray) -> np.ndarray:
    """Return ``float32[N, 2]`` points, reversed if the first point is above the last one."""
    pts = np.asarray(points, np.float32).reshape(-1, 2)
    if len(pts) >= 2 and pts[0, 1] < pts[-1, 1]:
        pts = pts[::-1]
    return np.ascontiguousarray(pts)


def inside_image(points: np.ndarray, width: int, height: int) -> np.ndarray:
    """``bool[N]``: points with ``0 <= x < W`` and ``0 <= y < H``."""
    p = np.asarray(points).reshape(-1, 2)
    return (p[:, 0] >= 0) & (p[:, 0] < width) & (p[:, 1] >= 0) & (p[:, 1] < height)


def x_at_bottom(lane: np.ndarray, height: int) -> float:
    """x where the lane meets the bottom image row (``y = H - 1``), by a straight-line fit to the lower half
    of its points (extrapolated when the lane ends above the bottom row, e.g. leaves through a side edge)."""
    pts = np.asarray(lane, np.float64).reshape(-1, 2)
    y = pts[:, 1]
    lower = pts[y >= np.median(y)]
    if len(lower) < 2 or np.ptp(lower[:, 1]) < 1.0:
        lower = pts
    if np.ptp(lower[:, 1]) < 1.0:  # horizontal: no slope to extrapolate with
        return float(lower[:, 0].mean())
    slope, intercept = np.polyfit(lower[:, 1], lower[:, 0], 1)  # x = slope * y + intercept
    return float(slope * (height - 1) + intercept)


def assign_lane_sides(lanes: list[np.ndarray], width: int, height: int) -> list[str | None]:
    """Side label per lane from its x at the bottom row relative to the image centre (camera on the car's
    centre line): nearest lane left of centre -> ``ego_left``, next -> ``left_left``; right of centre:
    ``ego_right`` then ``right_right``; lanes further out -> None."""
    centre = (width - 1) / 2.0
    xs = [x_at_bottom(lane, height) for lane in lanes]
    sides: list[str | None] = [None] * len(lanes)
    left = sorted((i for i, x in enumerate(xs) if x < centre), key=lambda i: -xs[i])
    right = sorted((i for i, x in enumerate(xs) if x >= centre), key=lambda i: xs[i])
    for name, i in zip(("ego_left", "left_left"), left):
        sides[i] = name
    for name, i in zip(("ego_right", "right_right"), right):
        sides[i] = name
    assert all(s is None or s in LANE_SIDES for s in sides)
    return sides


def lanes_from_instance_mask(mask: np.ndarray, *, background: int = 0, min_rows: int = 10,
                             row_step: int = 1) -> tuple[list[np.ndarray], list[int]]:
    """Lanes from an instance mask (each lane drawn with its own value, ``background`` elsewhere).

    Per instance value and per image row that contains it: one point at the mean x of its pixels. Rows are
    taken every ``row_step`` rows; instances covering fewer than ``min_rows`` rows are dropped. Returns
    (lanes ordered bottom to top, the instance value of each lane), sorted by instance value.
    """
    if mask.ndim != 2:
        raise ValueError(f"instance mask must be 2-D, got shape {mask.shape}")
    lanes: list[np.ndarray] = []
    values: list[int] = []
    for v in np.unique(mask).tolist():
        if v == background:
            continue
        ys, xs = np.nonzero(mask == v)
        rows, inverse, counts = np.unique(ys, return_inverse=True, return_counts=True)
        if len(rows) < min_rows:
            continue
        mean_x = np.bincount(inverse, weights=xs) / counts  # (R,) mean x per row
        keep = ((rows - rows.max()) % row_step) == 0  # keep the bottom row, then every row_step-th
        pts = np.stack([mean_x[keep], rows[keep].astype(np.float64)], axis=1)[::-1]  # (R', 2) bottom first
        lanes.append(pts.astype(np.float32))
        values.append(int(v))
    return lanes, values


__all__ = ["assign_lane_sides", "inside_image", "lanes_from_instance_mask", "order_bottom_to_top", "x_at_bottom"]
