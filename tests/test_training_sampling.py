"""Repeat-factor sampling: frames with rare classes come up more often, epochs keep their length."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from conftest import SHARED_DATA, need
from datasets import Sample, open_dataset
from datasets.classes import DET_CLASSES
from datasets.transforms import AugmentConfig, letterbox
from perception.errors import ConfigError
from perception.training.config import load_train_config
from perception.training.data import TrainSet
from perception.training.sampling import class_frame_fractions, epoch_indices, repeat_factors

CAR, PEDESTRIAN, BUS = (DET_CLASSES.index(c) for c in ("car", "pedestrian", "bus"))


def _frame(labels: list[int] | None) -> Sample:
    image = np.zeros((64, 96, 3), np.uint8)
    if labels is None:  # no detection labels at all (a segmentation-only frame)
        return Sample(image_bgr=image)
    boxes = np.tile(np.array([[10, 10, 30, 40]], np.float32), (len(labels), 1))
    return Sample(image_bgr=image, boxes_xyxy=boxes, labels=np.array(labels, np.int64))


def test_factors_follow_the_rarest_class_of_each_frame():
    # 100 detection frames: 90 cars only, 9 cars + a pedestrian, 1 bus; plus 5 hard negatives and 20 unlabelled.
    frames = ([_frame([CAR])] * 90 + [_frame([CAR, PEDESTRIAN])] * 9 + [_frame([BUS])]
              + [_frame([])] * 5 + [_frame(None)] * 20)
    fractions = class_frame_fractions(frames, len(DET_CLASSES))
    assert fractions[CAR] == pytest.approx(99 / 105)
    assert fractions[PEDESTRIAN] == pytest.approx(9 / 105)
    factors = repeat_factors(frames, len(DET_CLASSES), threshold=0.1)
    assert np.all(factors[:90] == 1.0)
    assert factors[90] == pytest.approx(np.sqrt(0.1 / (9 / 105)))   # the pedestrian decides, not the car
    assert factors[99] == pytest.approx(np.sqrt(0.1 * 105))
    assert np.all(factors[100:] == 1.0)                              # negatives and unlabelled frames


def test_an_epoch_keeps_its_length_and_draws_rare_frames_more_often():
    factors = np.array([1.0] * 90 + [3.5] * 10)
    counts: Counter[int] = Counter()
    for epoch in range(200):
        order = epoch_indices(factors, seed=0, epoch=epoch)
        assert len(order) == len(factors)
        assert len(set(order)) == len(order)            # each index once; repeats are further copies
        counts.update(i % len(factors) for i in order)
    rare = sum(counts[i] for i in range(90, 100)) / 200
    # 10 frames x 3.5 out of 125 expected copies, 100 of them kept: about 28 draws of rare frames per epoch
    assert 25 < rare < 31
    assert epoch_indices(factors, 0, 1) == epoch_indices(factors, 0, 1)
    assert epoch_indices(factors, 0, 1) != epoch_indices(factors, 0, 2)


def test_copies_of_one_frame_get_their_own_crops():
    reader = open_dataset("kitti", str(need(SHARED_DATA / "kitti_object_65frames")), "train")
    frame = letterbox(reader[0], (640, 384))[0]
    trainset = TrainSet([frame, frame], (384, 256), AugmentConfig())
    first, again, copy = trainset[0], trainset[0], trainset[2]   # index 2 = copy 1 of frame 0
    assert np.array_equal(first.image_bgr, again.image_bgr)
    assert not np.array_equal(first.image_bgr, copy.image_bgr)


def test_config_rejects_unknown_balance_and_bad_threshold():
    with pytest.raises(ConfigError, match="det_class_balance"):
        load_train_config(None, {"det_class_balance": "focal"})
    with pytest.raises(ConfigError, match="repeat_factor_threshold"):
        load_train_config(None, {"det_class_balance": "repeat_factor", "repeat_factor_threshold": 0})
