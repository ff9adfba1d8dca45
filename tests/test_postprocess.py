"""Postprocessing on outputs we construct by hand: NMS per class, lanes by side, masks to original size."""

from __future__ import annotations

import numpy as np
import pytest

from perception.model import ModelConfig
from perception.postprocess import Postprocessor, decode_detections, decode_lanes
from perception.preprocess import Preprocessor

BIG = 8.0  # logit with sigmoid ~ 1


def _outputs(cfg: ModelConfig, a: int = 5040):
    return {"det_cls_logits": np.full((a, len(cfg.det_classes)), -BIG, np.float32),
            "det_ctr_logits": np.full((a,), BIG, np.float32),
            "det_boxes_xyxy": np.tile(np.array([0, 0, 1, 1], np.float32), (a, 1)),
            "seg_logits": np.zeros((len(cfg.seg_classes), 96, 160), np.float32),
            "lane_logits": np.full((1, 96, 160), -BIG, np.float32)}


def test_nms_suppresses_within_a_class_but_not_across_classes():
    cls = np.full((4, 3), -BIG, np.float32)
    cls[0, 0], cls[1, 0], cls[2, 1], cls[3, 0] = 4.0, 3.0, 3.5, 2.0
    boxes = np.array([[100, 100, 200, 200], [105, 105, 205, 205],   # same class, IoU ~0.9 -> one kept
                      [102, 102, 202, 202],                           # other class, same place -> kept
                      [400, 100, 450, 150]], np.float32)              # same class, far away -> kept
    b, s, c = decode_detections(cls, np.full(4, BIG, np.float32), boxes)
    assert len(b) == 3
    assert list(c) == [0, 1, 0]
    assert np.all(np.diff(s) <= 0)  # best first


def test_detection_box_lands_on_the_same_object_in_original_pixels():
    cfg = ModelConfig()
    pre = Preprocessor(cfg.input_size_wh)
    params = pre.params_for((1920, 1080))  # scale 1/3, pad 12 px top
    out = _outputs(cfg)
    out["det_cls_logits"][10, 0] = BIG
    out["det_boxes_xyxy"][10] = [100, 112, 220, 172]  # network pixels
    result = Postprocessor(cfg, pre)(out, params, frame=0, timestamp_s=0.0)
    assert len(result.detections) == 1
    det = result.detections[0]
    assert det.label == "car"
    assert np.allclose(det.box_xyxy, [300, 300, 660, 480])


def test_segmentation_mask_is_returned_at_original_size_with_fractions():
    cfg = ModelConfig()
    pre = Preprocessor(cfg.input_size_wh)
    params = pre.params_for((960, 540))
    out = _outputs(cfg)
    road = cfg.seg_classes.index("road")
    sky = cfg.seg_classes.index("sky")
    out["seg_logits"][sky, :48] = BIG    # top half of the network input: sky
    out["seg_logits"][road, 48:] = BIG   # bottom half: road
    result = Postprocessor(cfg, pre)(out, params, frame=0, timestamp_s=0.0)
    assert result.seg_labels.shape == (540, 960)
    assert result.seg_labels[10, 480] == sky and result.seg_labels[530, 480] == road
    assert abs(result.seg_fractions["road"] - 0.5) < 0.02 and abs(result.seg_fractions["sky"] - 0.5) < 0.02
    assert abs(sum(result.seg_fractions.values()) - 1.0) < 1e-9


def test_lane_mask_becomes_left_and_right_ego_lines():
    h, w = 96, 160
    logits = np.full((h, w), -BIG, np.float32)
    for r in range(40, 93):  # two lines converging towards the top, like a road ahead
        t = (r - 40) / 52
        logits[r, int(70 - 45 * t):int(70 - 45 * t) + 2] = BIG
        logits[r, int(90 + 45 * t):int(90 + 45 * t) + 2] = BIG
    logits[10:14, 150:152] = BIG  # a speck too small to be a line
    lanes = decode_lanes(logits, 4, (0, 12, 640, 372), lambda p: p, 640)
    sides = sorted(lane.side for lane in lanes)
    assert sides == ["ego_left", "ego_right"]
    left = next(lane for lane in lanes if lane.side == "ego_left")
    assert left.points_xy[0, 1] > left.points_xy[-1, 1]  # bottom to top
    assert left.points_xy[0, 0] < 320 < next(lane for lane in lanes if lane.side == "ego_right").points_xy[0, 0]


def test_nms_keeps_the_same_boxes_as_torchvision():
    """The NumPy NMS (runtime code does not import torchvision) keeps exactly torchvision's boxes, in its order."""
    torch = pytest.importorskip("torch")
    ops = pytest.importorskip("torchvision.ops")
    from perception.postprocess.detection import nms_per_class

    rng = np.random.default_rng(0)
    for _ in range(100):
        n = int(rng.integers(0, 300))
        xy, wh = rng.uniform(-20, 600, (n, 2)), rng.uniform(1, 120, (n, 2))
        boxes = np.concatenate([xy, xy + wh], 1).astype(np.float32)
        scores, classes = rng.random(n).astype(np.float32), rng.integers(0, 5, n)
        expected = ops.batched_nms(torch.from_numpy(boxes), torch.from_numpy(scores), torch.from_numpy(classes), 0.6)
        assert np.array_equal(nms_per_class(boxes, scores, classes, 0.6), expected.numpy())
        assert np.array_equal(nms_per_class(boxes, scores, classes, 0.6, max_keep=10), expected.numpy()[:10])
