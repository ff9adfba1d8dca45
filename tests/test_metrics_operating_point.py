"""Precision / recall at a score threshold and the large-unmatched-box count, checked by hand."""

from __future__ import annotations

import numpy as np

from perception.metrics.detection import DetectionEvaluator, operating_point

CLASSES = ("car", "pedestrian")


def test_matches_ignore_regions_thresholds_and_large_phantoms_by_hand():
    ev = DetectionEvaluator(CLASSES)
    gt = np.array([[10, 10, 50, 40], [100, 10, 140, 40]], np.float32)           # two cars
    ignore = np.array([[300, 10, 340, 40]], np.float32)
    det = np.array([[11, 11, 50, 40],        # matches car 1 (score 0.9)
                    [12, 10, 52, 41],        # duplicate of car 1: a false positive (0.8)
                    [301, 11, 339, 40],      # inside the ignore region: neither (0.7)
                    [0, 100, 300, 200],      # 300x100 = 30 % of the 1000x100 frame, matches nothing (0.6)
                    [100, 10, 140, 40]],     # car 2, but below the threshold (0.2)
                   np.float32)
    ev.add(1000, 100, gt, np.array([0, 0]), ignore, det, np.array([0.9, 0.8, 0.7, 0.6, 0.2]),
           np.array([0, 0, 0, 0, 0]))
    op = operating_point(ev, 0.5)
    car = op["per_class"]["car"]
    assert (car["tp"], car["fp"], car["gt"]) == (1, 2, 2)
    assert car["precision"] == round(1 / 3, 4) and car["recall"] == 0.5
    assert op["large_unmatched"] == 1
    assert op["per_class"]["pedestrian"] == {"precision": None, "recall": None, "tp": 0, "fp": 0, "gt": 0}
    low = operating_point(ev, 0.1)
    assert low["per_class"]["car"]["tp"] == 2 and low["overall"]["recall"] == 1.0
