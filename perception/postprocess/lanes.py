"""Lane heads' outputs -> lane polylines in original pixels, labelled by side of the ego vehicle.

Per frame and without memory; tracking over time and metric geometry come later in the pipeline.

* ``decode_lanes`` (the lane-line mask head): connected components of the thresholded mask, a smooth x(y)
  polynomial per component, and a side label from where each line meets the bottom of the image.
* ``decode_lane_rows`` (the row-anchor head, ``perception.model.heads.RowAnchorHead``): per lane slot, the anchor
  rows where the lane is present, each with a sub-cell x; the side is the slot's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import cv2
import numpy as np

from perception.model.outputs import RowAnchorLayout
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


@dataclass(frozen=True)
class LaneRowDecodeConfig:
    presence_threshold: float = 0.5  # a lane crosses an anchor row when 1 - p(absent) exceeds this
    min_rows: int = 4                # lanes present on fewer anchor rows (inside the image) are dropped
    window_cells: int = 2            # sub-cell x: probability-weighted mean cell over the argmax +- this many


def _softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def decode_lane_rows(lane_row_logits: np.ndarray, layout: RowAnchorLayout,
                     valid_region_net: tuple[int, int, int, int], src_from_net: Callable[[np.ndarray], np.ndarray],
                     config: LaneRowDecodeConfig = LaneRowDecodeConfig()) -> list[LaneLine]:
    """Decode one image's row-anchor logits into up to one lane per slot.

    Args:
        lane_row_logits: (S, R, G + 1) logits (``RowAnchorLayout``: slots x anchor rows x (cells + absent)).
        layout: anchor rows and cells of the network that produced them.
        valid_region_net: (x0, y0, x1, y1) of the non-padded image in network pixels; anchors outside it are
            ignored (letterbox padding).
        src_from_net: maps network-pixel points (N, 2) to original pixels.
    Returns: ``LaneLine`` per slot with at least ``min_rows`` present rows, side = the slot's name, points
    (N, 2) in original pixels bottom to top, confidence = mean presence probability over its rows.
    """
    logits = np.asarray(lane_row_logits, np.float32)
    s, r, g1 = logits.shape
    g = g1 - 1
    if (s, r, g) != (len(layout.slots), layout.rows, layout.num_cells):
        raise ValueError(f"lane_row_logits of shape {logits.shape} do not fit the layout "
                         f"({len(layout.slots)}, {layout.rows}, {layout.num_cells + 1})")
    prob = _softmax(logits)                                      # (S, R, G + 1)
    present = 1.0 - prob[..., g]                                 # (S, R)
    cells = prob[..., :g]                                        # (S, R, G)
    best = cells.argmax(-1)                                      # (S, R)
    offsets = np.arange(-config.window_cells, config.window_cells + 1)
    idx = np.clip(best[..., None] + offsets, 0, g - 1)           # (S, R, K) cells around the peak
    w = np.take_along_axis(cells, idx, -1) * (np.abs(best[..., None] + offsets - idx) == 0)  # no clipped repeats
    cell_x = (w * idx).sum(-1) / np.maximum(w.sum(-1), 1e-12)    # (S, R) sub-cell position
    ys = layout.anchor_ys_px()                                   # (R,) top to bottom
    xs = layout.x_from_cell(cell_x)                              # (S, R) network pixels
    x0, y0, x1, y1 = valid_region_net
    lanes: list[LaneLine] = []
    for k, side in enumerate(layout.slots):
        keep = ((present[k] > config.presence_threshold) & (ys >= y0) & (ys <= y1 - 1)
                & (xs[k] >= x0) & (xs[k] <= x1 - 1))
        if keep.sum() < config.min_rows:
            continue
        pts_net = np.stack([xs[k][keep], ys[keep]], axis=1)[::-1]  # (N, 2) bottom to top
        lanes.append(LaneLine(id=len(lanes), side=side, points_xy=src_from_net(pts_net).astype(np.float32),
                              confidence=float(present[k][keep].mean())))
    return lanes
