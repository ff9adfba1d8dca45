"""Copy-paste of people: silhouettes cut from real CamVid masks, pasted onto the ground of other real frames."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import SHARED_DATA, need
from datasets import open_dataset
from datasets.classes import DET_CLASSES, SEG_CLASSES
from datasets.mask_boxes import with_mask_boxes
from datasets.transforms import letterbox
from perception.training.copy_paste import CopyPaste, CopyPasteConfig, content_rows, person_instances

SIZE_WH = (640, 384)
PEOPLE = {DET_CLASSES.index("pedestrian"), DET_CLASSES.index("cyclist")}
GROUND = {SEG_CLASSES.index("road"), SEG_CLASSES.index("sidewalk")}


@pytest.fixture(scope="module")
def camvid_frames():
    reader = open_dataset("camvid", str(need(SHARED_DATA / "camvid")), "train")
    return [with_mask_boxes(letterbox(reader[i], SIZE_WH)[0]) for i in range(0, len(reader), 6)]


@pytest.fixture(scope="module")
def kitti_frames():
    reader = open_dataset("kitti", str(need(SHARED_DATA / "kitti_object_65frames")), "train")
    return [letterbox(reader[i], SIZE_WH)[0] for i in range(10)]


def test_silhouettes_are_whole_people_from_the_masks(camvid_frames):
    config = CopyPasteConfig(p=1.0)
    instances = person_instances(camvid_frames * 3, config)  # repeats are not cut twice
    assert len(instances) == len(person_instances(camvid_frames, config)) > 20
    for inst in instances:
        assert inst.det_label in PEOPLE
        assert inst.alpha.shape == inst.image_bgr.shape[:2]
        assert inst.alpha.shape[0] >= config.min_source_height_px
        assert inst.alpha.mean() >= 0.3


def test_pasted_people_stand_on_the_ground_at_a_plausible_size(camvid_frames):
    config = CopyPasteConfig(p=1.0, max_instances=3)
    paste = CopyPaste(person_instances(camvid_frames, config), config)
    rng = np.random.default_rng(0)
    pasted = 0
    heights_by_foot = []
    for frame in camvid_frames:
        before_image, before_mask = frame.image_bgr.copy(), frame.seg_mask.copy()
        out = paste(frame, rng)
        assert np.array_equal(frame.image_bgr, before_image) and np.array_equal(frame.seg_mask, before_mask)
        out.validate()
        n0 = len(frame.boxes_xyxy)
        assert np.array_equal(out.boxes_xyxy[:n0], frame.boxes_xyxy)
        top, bottom = content_rows(frame.image_bgr)
        for box, label in zip(out.boxes_xyxy[n0:], out.labels[n0:]):
            pasted += 1
            x1, y1, x2, y2 = box.astype(int)
            assert label in PEOPLE
            assert frame.seg_mask[y2 - 1, (x1 + x2) // 2] in GROUND        # the feet are on road or sidewalk
            assert y2 > top + config.horizon_frac[0] * (bottom - top)      # below the horizon
            window = out.seg_mask[y1:y2, x1:x2]
            person = SEG_CLASSES.index("pedestrian" if label == DET_CLASSES.index("pedestrian") else "cyclist")
            assert (window == person).mean() > 0.2                       # the mask shows the person
            assert not np.array_equal(out.image_bgr[y1:y2, x1:x2], frame.image_bgr[y1:y2, x1:x2])
            heights_by_foot.append((y2, y2 - y1))
    assert pasted >= len(camvid_frames)
    feet, heights = np.array(heights_by_foot).T
    assert np.corrcoef(feet, heights)[0, 1] > 0.5  # nearer (lower) people are drawn taller


def test_det_only_frames_get_boxes_and_never_hide_an_existing_one(camvid_frames, kitti_frames):
    config = CopyPasteConfig(p=1.0, max_instances=3)
    paste = CopyPaste(person_instances(camvid_frames, config), config)
    rng = np.random.default_rng(1)
    added = 0
    for frame in kitti_frames:
        out = paste(frame, rng)
        out.validate()
        assert out.seg_mask is None
        n0 = len(frame.boxes_xyxy)
        for new in out.boxes_xyxy[n0:]:
            added += 1
            for old in frame.boxes_xyxy:
                iw = max(0.0, min(new[2], old[2]) - max(new[0], old[0]))
                ih = max(0.0, min(new[3], old[3]) - max(new[1], old[1]))
                assert iw * ih <= 0.2 * (old[2] - old[0]) * (old[3] - old[1]) + 1e-3
    assert added > 0


def test_off_or_unlabelled_frames_come_back_unchanged(camvid_frames, kitti_frames):
    instances = person_instances(camvid_frames, CopyPasteConfig(p=1.0))
    off = CopyPaste(instances, CopyPasteConfig(p=0.0))
    assert off(kitti_frames[0], np.random.default_rng(0)) is kitti_frames[0]
    lanes_only = kitti_frames[0].replace(boxes_xyxy=None, labels=None, ignore_boxes_xyxy=None)
    on = CopyPaste(instances, CopyPasteConfig(p=1.0))
    assert on(lanes_only, np.random.default_rng(0)) is lanes_only


def test_config_rejects_bad_and_unknown_copy_paste_settings():
    from perception.errors import ConfigError
    from perception.training.config import load_train_config

    assert load_train_config(None, {"copy_paste": {"p": 0.5}}).copy_paste.p == 0.5
    with pytest.raises(ConfigError):
        load_train_config(None, {"copy_paste": {"p": 1.5}})
    with pytest.raises(ConfigError):
        load_train_config(None, {"copy_paste": {"probability": 0.5}})
