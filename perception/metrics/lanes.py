"""Lane metrics: the TuSimple benchmark's accuracy / FP / FN and CULane-style F1.

TuSimple (per image, then averaged): for each ground-truth lane, sampled at rows ``y_samples``, the
accuracy of a predicted lane is the share of the GT rows where the prediction's x is closer than
``20 px / cos(angle of the GT lane)`` (20 px at 1280 px image width; scaled with the width here). A GT
lane is found when some prediction reaches 0.85; unmatched predictions are false positives. With more
than four GT lanes the worst one is dropped, as in the benchmark.

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


def tusimple_image(pred_lanes: list[np.ndarray], gt_lanes: list[np.ndarray], image_width_px: int
                   ) -> tuple[float, float, float]:
    """(accuracy, fp rate, fn rate) of one image; lanes are (N, 2) points in pixels."""
    threshold = TUSIMPLE_PIXEL_THRESHOLD * image_width_px / 1280.0
    accs, matched, fn = [], 0, 0
    for gt in gt_lanes:
        g = np.asarray(gt, np.float64)
        limit = threshold / np.cos(_gt_angle(g[:, 0], g[:, 1]))
        best = 0.0
        for pred in pred_lanes:
            px = x_at_rows(pred, g[:, 1])
            hit = np.abs(px - g[:, 0]) < limit  # NaN (no prediction at that row) counts as a miss
            best = max(best, float(hit.sum()) / len(g))
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

    def add(self, pred_lanes: list[np.ndarray], gt_lanes: list[np.ndarray], image_width_px: int) -> None:
        a, fp, fn = tusimple_image(pred_lanes, gt_lanes, image_width_px)
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
