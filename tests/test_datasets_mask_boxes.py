"""Boxes from semantic masks: one-object components become boxes, doubtful ones ignore regions."""

from __future__ import annotations

import numpy as np

from conftest import SHARED_DATA, need
from datasets import DET_CLASSES, SEG_CLASSES, Sample, open_dataset
from datasets.mask_boxes import MaskBoxConfig, boxes_from_mask, with_mask_boxes

CAR, PED = SEG_CLASSES.index("car"), SEG_CLASSES.index("pedestrian")


def _mask():
    m = np.zeros((120, 200), np.uint8)              # road everywhere
    m[20:40, 10:40] = CAR                           # one car, 30x20: a box
    m[60:70, 10:100] = CAR                          # 90x10 strip: wider than 2.6x its height -> ignore
    m[5:10, 150:155] = CAR                          # 25 px: too small -> ignore
    m[80:110, 150:160] = PED                        # one upright person (10x30): a pedestrian box
    m[90:100, 60:100] = PED                         # a wide group of people: ignore
    m[20:50, 120:136] = CAR                         # a car cut by a 1-px pole at column 128 ...
    m[20:50, 128] = SEG_CLASSES.index("pole")       # ... rejoined by the closing
    return m


def test_components_by_hand():
    boxes, labels, ignore = boxes_from_mask(_mask())
    assert sorted(boxes.tolist()) == [[10, 20, 40, 40], [120, 20, 136, 50], [150, 80, 160, 110]]
    named = {tuple(b): DET_CLASSES[k] for b, k in zip(boxes.tolist(), labels.tolist())}
    assert named[(150, 80, 160, 110)] == "pedestrian" and named[(10, 20, 40, 40)] == "car"
    assert sorted(ignore.tolist()) == [[10, 60, 100, 70], [60, 90, 100, 100], [150, 5, 155, 10]]
    # without the closing the split car is two boxes
    boxes, _, _ = boxes_from_mask(_mask(), MaskBoxConfig(close_px=1, min_area_px=100))
    assert [120, 20, 128, 50] in boxes.tolist() and [129, 20, 136, 50] in boxes.tolist()


def test_fused_or_huge_components_are_not_boxes():
    m = np.zeros((100, 100), np.uint8)
    m[10:90, 10:90] = CAR                           # 64 % of the image: a fused blob, not one car
    boxes, _, ignore = boxes_from_mask(m)
    assert len(boxes) == 0 and ignore.tolist() == [[10, 10, 90, 90]]
    m = np.zeros((100, 100), np.uint8)
    m[10:30, 10:30] = CAR
    m[10:30, 10:30][np.triu_indices(20, 1)] = 0     # a triangle fills ~half of its box
    boxes, _, ignore = boxes_from_mask(m, MaskBoxConfig(min_fill=0.6))
    assert len(boxes) == 0 and len(ignore) == 1


def test_samples_with_boxes_keep_them():
    s = Sample(image_bgr=np.zeros((120, 200, 3), np.uint8), boxes_xyxy=np.zeros((0, 4), np.float32),
               labels=np.zeros((0,), np.int64), seg_mask=_mask())
    assert with_mask_boxes(s) is s
    s2 = with_mask_boxes(s.replace(boxes_xyxy=None, labels=None))
    assert len(s2.boxes_xyxy) == 3 and s2.meta["boxes_from"]


def test_camvid_boxes_lie_on_their_class_pixels():
    reader = open_dataset("camvid", need(SHARED_DATA / "camvid"), "train")
    n_boxes = {"car": 0, "pedestrian": 0}
    for i in range(0, len(reader), 12):
        s = with_mask_boxes(reader[i])
        for (x1, y1, x2, y2), k in zip(s.boxes_xyxy.astype(int), s.labels):
            name = DET_CLASSES[k]
            inside = s.seg_mask[y1:y2, x1:x2]
            seg_id, fill = {"car": (CAR, 0.45), "pedestrian": (PED, 0.35),
                            "cyclist": (SEG_CLASSES.index("cyclist"), 0.35)}[name]
            assert (inside == seg_id).mean() >= fill - 0.1   # the closing may add a few pixels, never many
            n_boxes[name] = n_boxes.get(name, 0) + 1
    assert n_boxes["car"] >= 20 and n_boxes["pedestrian"] >= 3
