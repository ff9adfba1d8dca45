"""Lane-line mask -> lane polylines in original pixels, labelled by side of the ego vehicle.

Per frame and without memory: connected components of the thresholded mask, a smooth x(y)
polynomial per component, and a side label from where each line meets the bottom of the image.
Tracking over time and metric geometry come later in the pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import cv2
import numpy as np

from perception.results import LaneLine


@dataclass(frozen=True)
class LaneDecodeConfig:
    prob_threshold: float = 0.5    # lane-mask probability that counts as "line"
    min_pixels: int = 20           # smallest component (in stride-4 cells) kept as a line
    min_rows: int = 6              # a line must span at least this many rows of the stride-4 grid
    poly_degree: int = 2           # x(y) polynomial degree for lines with enough rows
    sample_step_rows: int = 2      # output one point every N rows of the stride-4 grid


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def decode_lanes(lane_logits: np.ndarray, downsample: int, valid_region_net: tuple[int, int, int, int],
                 src_from_net: Callable[[np.ndarray], np.ndarray], src_width_px: int,
                 config: LaneDecodeConfig = LaneDecodeConfig()) -> list[LaneLine]:
    """Decode one image's lane mask.

    Args:
        lane_logits: (h, w) logits on the stride-``downsample`` grid of the network input.
        valid_region_net: (x0, y0, x1, y1) of the non-padded image in network pixels.
        src_from_net: maps network-pixel points (N, 2) to original pixels.
        src_width_px: original image width (sides are decided against its centre).
    """
    prob = _sigmoid(np.asarray(lane_logits, dtype=np.float32))
    x0, y0, x1, y1 = (v / downsample for v in valid_region_net)
    mask = (prob > config.prob_threshold).astype(np.uint8)
    mask[: int(np.ceil(y0))] = 0
    mask[int(np.floor(y1)):] = 0
    mask[:, : int(np.ceil(x0))] = 0
    mask[:, int(np.floor(x1)):] = 0
    n, comp = cv2.connectedComponents(mask, connectivity=8)
    candidates = []
    for k in range(1, n):
        ys, xs = np.nonzero(comp == k)
        if len(ys) < config.min_pixels:
            continue
        rows = np.unique(ys)
        if len(rows) < config.min_rows:
            continue
        w = prob[ys, xs]
        # probability-weighted mean column per row: (R,) centre line of the component
        row_x = np.array([np.average(xs[ys == r], weights=w[ys == r]) for r in rows])
        deg = min(config.poly_degree, len(rows) - 1)
        coef = np.polyfit(rows.astype(np.float64), row_x, deg)
        sample_rows = np.arange(rows.max(), rows.min() - 1, -config.sample_step_rows, dtype=np.float64)
        pts_small = np.stack([np.polyval(coef, sample_rows), sample_rows], axis=1)
        pts_net = (pts_small + 0.5) * downsample - 0.5
        pts_src = src_from_net(pts_net)
        bottom_row = np.floor(y1) - 1
        bottom_x_net = (np.polyval(coef, bottom_row) + 0.5) * downsample - 0.5
        bottom_x_src = src_from_net(np.array([[bottom_x_net, (bottom_row + 0.5) * downsample - 0.5]]))[0, 0]
        candidates.append((bottom_x_src, pts_src.astype(np.float32), float(w.mean())))
    centre = src_width_px / 2.0
    left = sorted((c for c in candidates if c[0] < centre), key=lambda c: -c[0])
    right = sorted((c for c in candidates if c[0] >= centre), key=lambda c: c[0])
    lanes: list[LaneLine] = []
    for group, names in ((left, ("ego_left", "left_left")), (right, ("ego_right", "right_right"))):
        for i, (_, pts, conf) in enumerate(group):
            side = names[i] if i < len(names) else "other"
            lanes.append(LaneLine(id=len(lanes), side=side, points_xy=pts, confidence=conf))
    return lanes
