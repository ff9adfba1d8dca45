"""Lane metrics: the TuSimple benchmark's accuracy / FP / FN and CULane-style F1.

TuSimple (per image, then averaged): a predicted lane's accuracy on a ground-truth lane is a share of rows
where the two agree; a row agrees when the prediction's x is closer than ``20 px / cos(angle of the GT
lane)`` (20 px at 1280 px image width; scaled with the width here). Which rows count depends on whether the
label's row grid (``h_samples``) is given:

* with ``h_samples`` (the benchmark's own accounting, as in TuSimple's ``evaluate/lane.py``): every row of
  the grid counts, and a row where neither the GT lane nor the prediction has a point also agrees; so a
  prediction is penalised for running on above (or below) where the lane was labelled, and a GT lane's
  score is a share of all ``len(h_samples)`` rows;
* without (``labelled points``, what this project reported before 2026-12-02): only the rows where the GT
  lane has a point count, so running on past the labelled end costs nothing.

A GT lane is found when some prediction reaches 0.85; unmatched predictions are false positives. With more
than four GT lanes the worst one is dropped, and more than two predictions beyond the GT count score the image
0 (accuracy), 0 (FP) and 1 (FN), as in the benchmark.

CULane: lanes drawn as ``width_px``-wide polylines (shapely buffers), a prediction matches a GT lane when
their IoU exceeds 0.5 under a one-to-one (Hungarian) assignment; F1 over the whole set.
"""

from __future__ import annotations

import numpy as np

TUSIMPLE_PIXEL_THRESHOLD = 20.0   # at 1280 px image width
TUSIMPLE_POINT_SHARE = 0.85
CULANE_WIDTH_PX = 30.0
CULANE_IOU = 0.5


def x_at_rows(lane_xy: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """x of a polyline (N, 2) at each y in ``rows`` by linear interpolation; NaN outside its y-range."""
    p = np.asarray(lane_xy, np.float64)
    order = np.argsort(p[:, 1])
    ys, xs = p[order, 1], p[order, 0]
    out = np.interp(rows, ys, xs)
    out[(rows < ys[0]) | (rows > ys[-1])] = np.nan
    return out


def _gt_angle(xs: np.ndarray, ys: np.ndarray) -> float:
    if len(xs) < 2:
        return 0.0
    slope = np.polyfit(ys, xs, 1)[0]  # x = slope * y + b
    return float(np.arctan(slope))


def gt_on_rows(gt_lane: np.ndarray, h_samples: np.ndarray, tolerance_px: float = 0.5) -> np.ndarray:
    """x of a GT lane (N, 2) at each row of ``h_samples`` (R,): the x of its point on that row (within
    ``tolerance_px``), NaN where it has none."""
    g = np.asarray(gt_lane, np.float64)
    rows = np.asarray(h_samples, np.float64)
    d = np.abs(g[None, :, 1] - rows[:, None])  # (R, N) row distances
    k = np.argmin(d, axis=1)
    return np.where(d[np.arange(len(rows)), k] <= tolerance_px, g[k, 0], np.nan)


def tusimple_image(pred_lanes: list[np.ndarray], gt_lanes: list[np.ndarray], image_width_px: int,
                   h_samples: np.ndarray | None = None) -> tuple[float, float, float]:
    """(accuracy, fp rate, fn rate) of one image; lanes are (N, 2) points in pixels; ``h_samples`` (R,) the
    label's row grid (module docstring: given = the benchmark's accounting, None = labelled points only)."""
    threshold = TUSIMPLE_PIXEL_THRESHOLD * image_width_px / 1280.0
    if h_samples is not None and len(pred_lanes) > len(gt_lanes) + 2:
        return 0.0, 0.0, 1.0
    rows = None if h_samples is None else np.asarray(h_samples, np.float64)
    accs, matched, fn = [], 0, 0
    for gt in gt_lanes:
        g = np.asarray(gt, np.float64)
        limit = threshold / np.cos(_gt_angle(g[:, 0], g[:, 1]))
        gx = g[:, 0] if rows is None else gt_on_rows(g, rows)
        at = g[:, 1] if rows is None else rows
        best = 0.0
        for pred in pred_lanes:
            px = x_at_rows(pred, at)
            hit = np.abs(px - gx) < limit  # NaN (no point at that row) never hits ...
            if rows is not None:
                hit |= np.isnan(px) & np.isnan(gx)  # ... but with the row grid, both empty agrees
            best = max(best, float(hit.sum()) / len(gx))
        accs.append(best)
        if best < TUSIMPLE_POINT_SHARE:
            fn += 1
        else:
            matched += 1
    n_gt = len(gt_lanes)
    fp = len(pred_lanes) - matched
    if n_gt > 4 and fn > 0:
        fn -= 1
    total = sum(accs) - (min(accs) if n_gt > 4 else 0.0)
    denom = max(min(4.0, n_gt), 1.0)
    return total / denom, (fp / len(pred_lanes) if pred_lanes else 0.0), fn / denom


def culane_matches(pred_lanes: list[np.ndarray], gt_lanes: list[np.ndarray], width_px: float = CULANE_WIDTH_PX
                   ) -> int:
    """Number of true positives between predicted and GT lanes of one image (IoU > 0.5, one-to-one)."""
    if not pred_lanes or not gt_lanes:
        return 0
    from scipy.optimize import linear_sum_assignment
    from shapely.geometry import LineString

    def poly(lane):
        pts = np.asarray(lane, np.float64)
        return LineString(pts).buffer(width_px / 2, cap_style="flat") if len(pts) >= 2 else None

    ps, gs = [poly(p) for p in pred_lanes], [poly(g) for g in gt_lanes]
    iou = np.zeros((len(ps), len(gs)))
    for i, p in enumerate(ps):
        for j, g in enumerate(gs):
            if p is None or g is None:
                continue
            union = p.union(g).area
            iou[i, j] = p.intersection(g).area / union if union > 0 else 0.0
    rows, cols = linear_sum_assignment(-iou)
    return int((iou[rows, cols] > CULANE_IOU).sum())


class LaneEvaluator:
    """Accumulates both metrics over a data set."""

    def __init__(self) -> None:
        self.acc, self.fp, self.fn = [], [], []
        self.tp = self.n_pred = self.n_gt = 0

    def add(self, pred_lanes: list[np.ndarray], gt_lanes: list[np.ndarray], image_width_px: int,
            h_samples: np.ndarray | None = None) -> None:
        """One image; ``h_samples``: the label's row grid (TuSimple accounting), None = labelled points only."""
        a, fp, fn = tusimple_image(pred_lanes, gt_lanes, image_width_px, h_samples)
        self.acc.append(a)
        self.fp.append(fp)
        self.fn.append(fn)
        self.tp += culane_matches(pred_lanes, gt_lanes)
        self.n_pred += len(pred_lanes)
        self.n_gt += len(gt_lanes)

    def summary(self) -> dict:
        precision = self.tp / self.n_pred if self.n_pred else 0.0
        recall = self.tp / self.n_gt if self.n_gt else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return {"images": len(self.acc), "tusimple_accuracy": float(np.mean(self.acc)) if self.acc else 0.0,
                "tusimple_fp": float(np.mean(self.fp)) if self.fp else 0.0,
                "tusimple_fn": float(np.mean(self.fn)) if self.fn else 0.0,
                "culane_precision": precision, "culane_recall": recall, "culane_f1": f1,
                "gt_lanes": self.n_gt, "pred_lanes": self.n_pred}
