"""Training targets: FCOS-style assignment for the anchor-free detection head, and row-anchor lane targets.

A location (centre of a stride-s cell, network pixels) is positive for a ground-truth box when it lies
within ``center_radius * s`` of the box centre (and inside the box), and the box's largest distance
from the location falls in that level's range. Among several candidate boxes the smallest wins.
Locations inside an ignore region that are not positive are ignored (no classification loss).
"""

from __future__ import annotations

import numpy as np
import torch

from perception.model.outputs import RowAnchorLayout

# Regression range per stride: max(l, t, r, b) in network pixels (FCOS's split, for strides 8/16/32).
LEVEL_RANGES = {8: (0.0, 64.0), 16: (64.0, 128.0), 32: (128.0, float("inf"))}
CENTER_RADIUS = 1.5

BACKGROUND = -1
IGNORE = -2


def fcos_targets(points: torch.Tensor, strides: torch.Tensor, boxes: torch.Tensor, labels: torch.Tensor,
                 ignore_boxes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Targets for one image.

    Args:
        points: (A, 2) location centres (x, y), network pixels. strides: (A,) stride of each location.
        boxes: (N, 4) xyxy ground truth, network pixels. labels: (N,) class indices.
        ignore_boxes: (M, 4) xyxy don't-care regions.
    Returns:
        cls_target (A,) long: class index, BACKGROUND or IGNORE;
        box_target (A, 4) float: the assigned xyxy box (zeros where not positive);
        ctr_target (A,) float: FCOS centre-ness of the location in its box (0 where not positive).
    """
    a = points.shape[0]
    cls_target = torch.full((a,), BACKGROUND, dtype=torch.long)
    box_target = torch.zeros((a, 4))
    ctr_target = torch.zeros((a,))
    if len(ignore_boxes):
        x, y = points[:, 0:1], points[:, 1:2]
        inside_ign = ((x > ignore_boxes[:, 0]) & (x < ignore_boxes[:, 2]) &
                      (y > ignore_boxes[:, 1]) & (y < ignore_boxes[:, 3])).any(dim=1)
        cls_target[inside_ign] = IGNORE
    if len(boxes) == 0:
        return cls_target, box_target, ctr_target
    x, y = points[:, 0:1], points[:, 1:2]                                  # (A, 1)
    l, t = x - boxes[:, 0], y - boxes[:, 1]                                # (A, N)
    r, b = boxes[:, 2] - x, boxes[:, 3] - y
    ltrb = torch.stack([l, t, r, b], dim=-1)                              # (A, N, 4)
    inside = ltrb.min(dim=-1).values > 0
    cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
    radius = strides[:, None] * CENTER_RADIUS
    near_centre = ((x - cx).abs() < radius) & ((y - cy).abs() < radius)
    max_side = ltrb.max(dim=-1).values
    lo = torch.zeros_like(strides)
    hi = torch.zeros_like(strides)
    for s, (rlo, rhi) in LEVEL_RANGES.items():
        lo[strides == s], hi[strides == s] = rlo, rhi
    in_range = (max_side >= lo[:, None]) & (max_side <= hi[:, None])
    ok = inside & near_centre & in_range                                   # (A, N)
    area = ((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]))[None].expand(a, -1)
    area = torch.where(ok, area, torch.full_like(area, float("inf")))
    best_area, best = area.min(dim=1)
    pos = torch.isfinite(best_area)
    cls_target[pos] = labels[best[pos]]
    box_target[pos] = boxes[best[pos]]
    sel = ltrb[pos, best[pos]]                                             # (P, 4)
    lr, tb = sel[:, [0, 2]], sel[:, [1, 3]]
    ctr_target[pos] = torch.sqrt((lr.min(1).values / lr.max(1).values) * (tb.min(1).values / tb.max(1).values))
    return cls_target, box_target, ctr_target


def lane_row_targets(lanes: list, sides: list | None, layout: RowAnchorLayout, image_width_px: int
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """Row-anchor targets of one image (``perception.model.outputs.RowAnchorLayout``), network pixels.

    A lane (N, 2) pixel-centre points, bottom to top, fills the slot of its side (``sides``; lanes without a side,
    or all lanes when ``sides`` is None, are not used). On an anchor row inside the lane's labelled y-range its x is
    interpolated linearly between the labelled points (never extrapolated); a row it does not reach, or where that x
    lies outside the image, is absent.
    Returns:
        cls_target (S, R) long: the cell (0..G-1) the lane crosses, or ``layout.absent``;
        cell_target (S, R) float: the sub-cell position (cell units, ``RowAnchorLayout.cell_from_x``), NaN where
        absent.
    """
    ys = layout.anchor_ys_px()                                   # (R,)
    s, r, g = len(layout.slots), layout.rows, layout.num_cells
    cls_target = torch.full((s, r), layout.absent, dtype=torch.long)
    cell_target = torch.full((s, r), float("nan"))
    for lane, side in zip(lanes, sides or [None] * len(lanes)):
        if side not in layout.slots or len(lane) < 2:
            continue
        k = layout.slots.index(side)
        p = np.asarray(lane, np.float64)
        order = np.argsort(p[:, 1], kind="stable")
        py, px = p[order, 1], p[order, 0]
        inside = (ys >= py[0]) & (ys <= py[-1])
        x = np.interp(ys, py, px)                                # (R,)
        ok = inside & (x >= 0) & (x <= image_width_px - 1)
        cell = layout.cell_from_x(x)
        cls_target[k, torch.from_numpy(ok)] = torch.from_numpy(np.clip(np.round(cell[ok]), 0, g - 1)).long()
        cell_target[k, torch.from_numpy(ok)] = torch.from_numpy(cell[ok]).float()
    return cls_target, cell_target
