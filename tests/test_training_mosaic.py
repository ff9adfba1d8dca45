"""Mosaic: four real crops at half size in one training item, labels moved with them."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import SHARED_DATA, need
from datasets import open_dataset
from datasets.transforms import AugmentConfig, letterbox
from perception.training.data import TrainSet
from perception.training.mosaic import mosaic_2x2

SIZE_WH = (640, 384)


@pytest.fixture(scope="module")
def kitti_frames():
    reader = open_dataset("kitti", str(need(SHARED_DATA / "kitti_object_65frames")), "train")
    return [letterbox(reader[i], SIZE_WH)[0] for i in range(4)]


@pytest.fixture(scope="module")
def camvid_frames():
    reader = open_dataset("camvid", str(need(SHARED_DATA / "camvid")), "train")
    return [letterbox(reader[i], SIZE_WH)[0] for i in range(0, 40, 10)]


def test_tiles_shrink_into_their_quarters_with_their_boxes(kitti_frames):
    mosaic = mosaic_2x2(kitti_frames)
    assert (mosaic.width, mosaic.height) == SIZE_WH
    w, h = SIZE_WH[0] // 2, SIZE_WH[1] // 2
    # the bottom-right quarter is the fourth frame at half size
    quarter = mosaic.image_bgr[h:, w:].astype(np.float32)
    expected = kitti_frames[3].image_bgr.reshape(h, 2, w, 2, 3).mean(axis=(1, 3))
    assert np.abs(quarter - expected).mean() < 1.0
    kept = sum(int(((f.boxes_xyxy[:, 2:] - f.boxes_xyxy[:, :2]) >= 4).all(axis=1).sum()) for f in kitti_frames)
    assert len(mosaic.boxes_xyxy) >= kept > 0
    first = kitti_frames[0].boxes_xyxy
    assert np.allclose(mosaic.boxes_xyxy[:len(first)], first / 2)   # top-left tile: halved, not shifted
    assert set(mosaic.labels.tolist()) <= set(np.concatenate([f.labels for f in kitti_frames]).tolist())


def test_masks_shrink_with_their_frames(camvid_frames):
    mosaic = mosaic_2x2(camvid_frames)
    w, h = SIZE_WH[0] // 2, SIZE_WH[1] // 2
    assert mosaic.boxes_xyxy is None
    # nearest-neighbour shrinking keeps one pixel of each 2x2 block: nearly all agree with the even grid
    assert (mosaic.seg_mask[:h, w:] == camvid_frames[1].seg_mask[::2, ::2]).mean() > 0.9


def test_tiles_with_different_labels_are_refused(kitti_frames, camvid_frames):
    with pytest.raises(ValueError, match="same kinds of labels"):
        mosaic_2x2(kitti_frames[:2] + camvid_frames[:2])


def test_trainset_mixes_only_frames_with_the_same_labels(kitti_frames, camvid_frames):
    trainset = TrainSet(kitti_frames + camvid_frames, (384, 256), AugmentConfig(), mosaic_p=1.0)
    for i in range(8):
        item = trainset[i]
        assert (item.width, item.height) == (384, 256)
        assert (item.boxes_xyxy is not None) == (i < 4)
        assert (item.seg_mask is not None) == (i >= 4)
    plain = TrainSet(kitti_frames, (384, 256), AugmentConfig())
    assert np.array_equal(plain[1].image_bgr, TrainSet(kitti_frames, (384, 256), AugmentConfig())[1].image_bgr)
