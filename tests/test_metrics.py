"""Metric code against cases worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from conftest import SHARED_DATA, need

from perception.metrics.detection import DetectionEvaluator
from perception.metrics.lanes import LaneEvaluator, culane_matches, tusimple_image
from perception.metrics.segmentation import ConfusionMatrix


def test_iou_by_hand():
    # 2 classes; target row-major [0 0 1 1 | 255 1], prediction [0 1 1 1 | 0 0]
    cm = ConfusionMatrix(2, ignore_index=255)
    cm.update(np.array([0, 0, 1, 1, 255, 1]), np.array([0, 1, 1, 1, 0, 0]))
    # class 0: TP 1, FP 1 (target 1 predicted 0), FN 1 -> 1/3; class 1: TP 2, FP 1, FN 1 -> 2/4
    iou = cm.iou()
    assert iou[0] == pytest.approx(1 / 3) and iou[1] == pytest.approx(0.5)
    s = cm.summary(("a", "b"))
    assert s["miou"] == pytest.approx((1 / 3 + 0.5) / 2)
    assert s["pixels"] == 5  # the ignore pixel is not counted
    assert s["pixel_accuracy"] == pytest.approx(3 / 5)


def test_class_absent_everywhere_is_left_out_of_the_mean():
    cm = ConfusionMatrix(3)
    cm.update(np.array([0, 0, 1]), np.array([0, 0, 1]))
    assert math.isnan(cm.iou()[2])
    assert cm.summary(("a", "b", "c"))["miou"] == pytest.approx(1.0)


def test_detection_ap_by_hand():
    ev = DetectionEvaluator(("car", "pedestrian"))
    gt = np.array([[0, 0, 100, 100], [200, 200, 300, 300]], np.float32)
    # image 1: both cars found (one perfectly, one at IoU 0.68), plus a false positive with a lower score
    det = np.array([[0, 0, 100, 100], [210, 210, 310, 310], [500, 500, 550, 550]], np.float32)
    ev.add(640, 640, gt, np.array([0, 0]), None, det, np.array([0.9, 0.8, 0.1]), np.array([0, 0, 0]))
    s = ev.summary()
    # AP50: recall reaches 1.0 before the false positive -> precision 1 over all recall -> AP 1.0
    assert s["map_50"] == pytest.approx(1.0, abs=1e-3)
    assert s["per_class_ap50"]["car"] == pytest.approx(1.0, abs=1e-3)
    assert s["per_class_ap50"]["pedestrian"] is None  # no ground truth: not part of the mean
    # IoU of the shifted box: 90*90 / (2*100*100 - 8100) = 0.6807 -> matched at 0.50..0.65 only (4 of 10 thresholds)
    # AP at those is 1.0; above it recall stops at 0.5 with precision 1 -> AP = 0.5 (101-point interpolation ~0.505)
    expected = (4 * 1.0 + 6 * (51 / 101)) / 10
    assert s["map_50_95"] == pytest.approx(expected, abs=2e-3)


def test_detection_on_ignore_region_is_not_a_false_positive():
    ev = DetectionEvaluator(("car",))
    gt = np.array([[0, 0, 100, 100]], np.float32)
    ign = np.array([[400, 400, 600, 600]], np.float32)
    det = np.array([[450, 450, 550, 550], [0, 0, 100, 100]], np.float32)  # the ignored one scores higher
    ev.add(640, 640, gt, np.array([0]), ign, det, np.array([0.9, 0.5]), np.array([0, 0]))
    assert ev.summary()["map_50"] == pytest.approx(1.0, abs=1e-3)


def _vertical(x, y0=100, y1=700, step=10):
    ys = np.arange(y1, y0 - 1, -step, dtype=np.float64)
    return np.stack([np.full_like(ys, x), ys], 1)


def test_tusimple_accuracy_by_hand():
    gt = [_vertical(400), _vertical(800)]
    # prediction 1: 10 px off -> every point within 20 px; prediction 2 covers only the lower half of lane 2
    pred = [_vertical(410), _vertical(800, y0=400)]
    acc, fp, fn = tusimple_image(pred, gt, 1280)
    n = len(gt[1])
    lower = int((gt[1][:, 1] >= 400).sum())
    assert acc == pytest.approx((1.0 + lower / n) / 2)
    assert lower / n < 0.85
    assert fn == pytest.approx(0.5)   # lane 2 not found (below 85 % of its points)
    assert fp == pytest.approx(0.5)   # half-lane prediction matched nothing


def test_tusimple_threshold_scales_with_image_width():
    gt = [_vertical(200)]
    pred = [_vertical(212)]  # 12 px off: inside 20*512/1280 = 8 px? no -> miss at 512 wide
    assert tusimple_image(pred, gt, 1280)[0] == 1.0
    assert tusimple_image(pred, gt, 512)[0] == 0.0


def test_tusimple_row_grid_counts_rows_past_the_label_and_empty_rows():
    """With the label's row grid (h_samples), as TuSimple's own evaluation does: a row where neither line has a
    point agrees, a predicted point on a row the label leaves empty is a miss, and the share is over all rows."""
    grid = np.arange(0.0, 701.0, 10.0)  # 71 rows
    gt = [_vertical(400, y0=100)]  # labelled on rows 100..700: 61 rows
    exact, longer = _vertical(400, y0=100), _vertical(400, y0=0)  # the second runs on 10 rows past the label
    assert tusimple_image([exact], gt, 1280, grid)[0] == 1.0
    assert tusimple_image([longer], gt, 1280, grid)[0] == pytest.approx(61 / 71)
    shorter = _vertical(400, y0=400)  # rows 400..700: 31 hits, 30 labelled rows missed, 10 empty rows agree
    assert tusimple_image([shorter], gt, 1280, grid)[0] == pytest.approx(41 / 71)
    # the labelled-points accounting (no grid) sees neither the extra rows nor the empty ones
    assert tusimple_image([longer], gt, 1280)[0] == 1.0
    assert tusimple_image([shorter], gt, 1280)[0] == pytest.approx(31 / 61)
    # more than two predictions beyond the GT count: the image scores 0 accuracy, 0 FP, 1 FN
    assert tusimple_image([exact] + [_vertical(x) for x in (100, 700, 900)], gt, 1280, grid) == (0.0, 0.0, 1.0)


def _benchmark_rule(pred_rows: list[list[float]], gt_rows: list[list[float]], grid: np.ndarray, width: int) -> float:
    """TuSimple's per-image accuracy written out on its own format (x per grid row, -2 = none), independently of
    perception.metrics.lanes: per GT lane the best prediction's share of grid rows that agree."""
    accs = []
    for g in gt_rows:
        g = np.asarray(g, np.float64)
        ok = g >= 0
        slope = np.polyfit(grid[ok], g[ok], 1)[0]
        limit = 20.0 * width / 1280.0 / math.cos(math.atan(slope))
        best = 0.0
        for p in pred_rows:
            p = np.asarray(p, np.float64)
            agree = [(pi < 0 and gi < 0) or (pi >= 0 and gi >= 0 and abs(pi - gi) < limit) for pi, gi in zip(p, g)]
            best = max(best, sum(agree) / len(g))
        accs.append(best)
    if len(accs) > 4:
        accs.remove(min(accs))
    return sum(accs) / max(min(4, len(gt_rows)), 1)


def test_tusimple_row_grid_matches_the_benchmark_rule_on_real_labels():
    """Predictions made from the real sample labels (shifted, cut short, run on past the label, dropped) score
    the same through our polyline path as through the rule written out on TuSimple's own format."""
    from datasets import open_dataset

    reader = open_dataset("tusimple", need(SHARED_DATA / "tusimple_sample_512x288"), "train")
    rng = np.random.default_rng(0)
    for i in range(len(reader)):
        sample = reader[i]
        grid = np.asarray(sample.meta["h_samples"], np.float64)
        preds, pred_rows, gt_rows = [], [], []
        for k, lane in enumerate(sample.lanes):
            lane = np.asarray(lane, np.float64)
            on = np.isin(grid, lane[:, 1])
            gx = np.full(len(grid), -2.0)
            gx[on] = lane[np.searchsorted(-lane[:, 1], -grid[on]), 0]  # lanes are bottom to top
            gt_rows.append(gx.tolist())
            if k == 1:
                continue  # one GT lane gets no prediction
            shift = rng.uniform(-12.0, 12.0)  # some within the 8 px limit at 512 px width, some not
            px = np.where(gx >= 0, gx + shift, -2.0)
            valid = np.nonzero(px >= 0)[0]
            if k == 2:  # cut short: the top third of its labelled rows dropped
                px[valid[: len(valid) // 3]] = -2.0
            if k == 3 and valid.min() > 2:  # runs on past the label's top by 3 rows
                px[valid.min() - 3: valid.min()] = px[valid.min()]
            pred_rows.append(px.tolist())
            keep = px >= 0
            preds.append(np.column_stack([px[keep], grid[keep]]))
        ours = tusimple_image(preds, list(sample.lanes), sample.width, grid)[0]
        assert ours == pytest.approx(_benchmark_rule(pred_rows, gt_rows, grid, sample.width)), sample.source


def test_culane_iou_matching():
    gt = [_vertical(400), _vertical(800)]
    assert culane_matches([_vertical(405), _vertical(1000)], gt) == 1   # 5 px apart with 30 px width: IoU 0.71
    assert culane_matches([_vertical(420)], gt) == 0                     # 20 px apart: IoU 0.2
    ev = LaneEvaluator()
    ev.add([_vertical(405), _vertical(1000)], gt, 1280)
    s = ev.summary()
    assert s["culane_precision"] == 0.5 and s["culane_recall"] == 0.5 and s["culane_f1"] == 0.5


def test_score_threshold_counts_by_hand():
    """Greedy class-aware matching at IoU 0.5: one hit, one low-IoU miss, one wrong class, one weak box."""
    import numpy as np

    from perception.tools.score_threshold import counts_at

    gt = np.array([[0, 0, 10, 10], [20, 0, 30, 10], [40, 0, 50, 10]], dtype=float)
    gt_labels = np.array([0, 0, 1])
    pred = np.array([[0, 0, 10, 10], [25, 0, 35, 10], [40, 0, 50, 10], [0, 0, 10, 9]], dtype=float)
    scores = np.array([0.9, 0.8, 0.7, 0.2])
    labels = np.array([0, 0, 0, 0])
    frame = [(pred, scores, labels, gt, gt_labels)]
    assert counts_at(frame, 0.5) == (1, 2, 2)   # only the first box matches; gt 2 and 3 are missed
    assert counts_at(frame, 0.1) == (1, 3, 2)   # the weak duplicate of box 1 is a false positive
