"""The squashed Cityscapes copy (aspect restored) and the YOLO txt reader, on the real shared folders."""

from pathlib import Path

import cv2
import numpy as np
import pytest

from datasets import DET_CLASSES, SEG_CLASSES, DatasetFormatError, open_dataset
from datasets.mask_boxes import boxes_from_mask
from datasets.yolo import parse_yolo_label_text
from conftest import SHARED_DATA, need

CITYSCAPES = SHARED_DATA / "cityscapes_pix2pix_256"
KITTI_YOLO = SHARED_DATA / "kitti_yolo_3class_48frames"


def test_squashed_cityscapes_gets_its_2_to_1_aspect_back_with_labels_aligned():
    ds = open_dataset("cityscapes", need(CITYSCAPES), "val")
    assert len(ds) == 500
    s = ds[0]
    assert s.image_bgr.shape == (256, 512, 3) and s.seg_mask.shape == (256, 512)
    raw = cv2.imread(str(CITYSCAPES / "labels" / "val" / f"{Path(s.source).stem}_trainIds.png"), cv2.IMREAD_UNCHANGED)
    # nearest-neighbour stretch: every restored column pair repeats one original column's classes
    road = SEG_CLASSES.index("road")
    assert ((s.seg_mask[:, 0::2] == road) == (raw == 0)).mean() > 0.99
    # the lower middle of a Cityscapes frame is road (the bottom rows are the ego car's bonnet), the top is not
    assert (s.seg_mask[180:210] == road).mean() > 0.3 and (s.seg_mask[:20] == road).mean() < 0.05


def test_squashed_cityscapes_gives_person_and_car_boxes_from_mask_components():
    ds = open_dataset("cityscapes", need(CITYSCAPES), "train")
    labels = np.concatenate([boxes_from_mask(ds[i].seg_mask)[1] for i in range(0, 300, 10)])
    counts = {DET_CLASSES[k]: int((labels == k).sum()) for k in np.unique(labels)}
    assert counts.get("car", 0) > 20 and counts.get("pedestrian", 0) > 5


def test_single_upright_person_becomes_a_box_a_group_an_ignore_region():
    m = np.full((200, 300), SEG_CLASSES.index("road"), np.uint8)
    ped = SEG_CLASSES.index("pedestrian")
    m[50:110, 20:40] = ped            # one person: 20 wide, 60 tall
    m[50:90, 100:220] = ped           # a group fused into one wide blob
    boxes, labels, ignore = boxes_from_mask(m)
    assert [DET_CLASSES[k] for k in labels] == ["pedestrian"]
    assert boxes[0].tolist() == [20, 50, 40, 110]
    assert [100, 50, 220, 90] in ignore.tolist()


def test_yolo_reader_maps_vehicle_to_car_and_denormalises_boxes():
    ds = open_dataset("yolo", need(KITTI_YOLO), "val")
    assert len(ds) == len(list((KITTI_YOLO / "images" / "val").glob("*.jpg"))) > 0
    s = ds[0]
    h, w = s.image_bgr.shape[:2]
    first = (KITTI_YOLO / "labels" / "val" / f"{Path(s.source).stem}.txt").read_text().split()
    cls, cx, cy, bw, bh = int(first[0]), *map(float, first[1:5])
    names = (KITTI_YOLO / "classes.txt").read_text().split()
    expected = {"vehicle": "car"}.get(names[cls], names[cls])
    assert DET_CLASSES[s.labels[0]] == expected
    x1, y1 = max(0.0, (cx - bw / 2) * w), max(0.0, (cy - bh / 2) * h)
    assert s.boxes_xyxy[0, :2] == pytest.approx([x1, y1], abs=0.01)
    every = np.concatenate([ds[i].labels for i in range(len(ds))])
    assert set(DET_CLASSES[k] for k in every) <= {"car", "pedestrian", "cyclist"}


def test_yolo_label_errors_name_the_file_and_line(tmp_path):
    with pytest.raises(DatasetFormatError, match=r"a\.txt:2:"):
        parse_yolo_label_text("0 0.5 0.5 0.1 0.1\n0 0.5 0.5\n", tmp_path / "a.txt", 3, 100, 100)
    with pytest.raises(DatasetFormatError, match="class id 7"):
        parse_yolo_label_text("7 0.5 0.5 0.1 0.1\n", tmp_path / "a.txt", 3, 100, 100)
    ids, boxes, _ = parse_yolo_label_text("1 0.5 0.5 0.2 0.4\n", tmp_path / "a.txt", 3, 100, 50)
    assert ids.tolist() == [1] and boxes.tolist() == [[40.0, 15.0, 60.0, 35.0]]
