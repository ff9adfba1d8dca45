"""COCO-format reader on a small fixture written in the COCO instances format."""

import json

import cv2
import numpy as np
import pytest

from datasets import DET_CLASSES, CocoDataset, DatasetFormatError, open_dataset


@pytest.fixture
def coco_root(tmp_path):
    """ROOT/annotations/instances_val2017.json + ROOT/val2017/*.jpg"""
    (tmp_path / "val2017").mkdir()
    (tmp_path / "annotations").mkdir()
    for name in ("000001.jpg", "000002.jpg"):
        cv2.imwrite(str(tmp_path / "val2017" / name), np.zeros((48, 64, 3), np.uint8))
    d = {
        "info": {}, "licenses": [],
        "images": [{"id": 1, "file_name": "000001.jpg", "width": 64, "height": 48},
                   {"id": 2, "file_name": "000002.jpg", "width": 64, "height": 48},
                   {"id": 3, "file_name": "000003.jpg", "width": 64, "height": 48}],
        # deliberately not COCO's ids: categories are matched by name
        "categories": [{"id": 10, "name": "person", "supercategory": "person"},
                       {"id": 11, "name": "car", "supercategory": "vehicle"},
                       {"id": 12, "name": "dog", "supercategory": "animal"},
                       {"id": 13, "name": "motorcycle", "supercategory": "vehicle"}],
        "annotations": [
            {"id": 100, "image_id": 1, "category_id": 11, "bbox": [5, 6, 20, 10], "area": 200, "iscrowd": 0},
            {"id": 101, "image_id": 1, "category_id": 10, "bbox": [30, 10, 8, 20], "area": 160, "iscrowd": 0},
            {"id": 102, "image_id": 1, "category_id": 10, "bbox": [40, 0, 30, 30], "area": 900, "iscrowd": 1},
            {"id": 103, "image_id": 1, "category_id": 12, "bbox": [0, 30, 10, 10], "area": 100, "iscrowd": 0},
            {"id": 104, "image_id": 1, "category_id": 13, "bbox": [50, 30, 10, 10], "area": 100, "iscrowd": 0},
        ],
    }
    (tmp_path / "annotations" / "instances_val2017.json").write_text(json.dumps(d, indent=2))
    return tmp_path


def test_mapping_crowd_and_empty_images(coco_root):
    with pytest.warns(UserWarning, match="000003.jpg"):
        ds = open_dataset("coco", coco_root, "val2017")
    assert len(ds) == 2 and ds.missing_ids == ["000003.jpg"]
    s = ds[0]
    assert [DET_CLASSES[k] for k in s.labels] == ["car", "pedestrian", "motorcyclist"]
    np.testing.assert_allclose(s.boxes_xyxy[0], [5, 6, 25, 16])  # xywh -> xyxy
    np.testing.assert_allclose(s.ignore_boxes_xyxy, [[40, 0, 64, 30]])  # crowd, clipped to the 64 px width
    assert s.meta["num_dropped_class"] == 1  # the dog
    assert s.meta["box_attrs"]["annotation_id"].tolist() == [100, 101, 104]
    empty = ds[1]
    assert empty.boxes_xyxy.shape == (0, 4) and empty.ignore_boxes_xyxy.shape == (0, 4)


def test_skip_empty(coco_root):
    ds = CocoDataset(coco_root / "val2017", coco_root / "annotations" / "instances_val2017.json", skip_empty=True)
    assert len(ds) == 1


def test_truncated_json_names_file_and_line(coco_root):
    ann = coco_root / "annotations" / "instances_val2017.json"
    lines = ann.read_text().splitlines()
    ann.write_text("\n".join(lines[:20]))
    with pytest.raises(DatasetFormatError, match=r"instances_val2017\.json:\d+: invalid JSON"):
        CocoDataset(coco_root / "val2017", ann)


def test_bad_bbox(coco_root):
    ann = coco_root / "annotations" / "instances_val2017.json"
    d = json.loads(ann.read_text())
    d["annotations"][0]["bbox"] = [1, 2, 3]
    ann.write_text(json.dumps(d))
    with pytest.raises(DatasetFormatError, match=r"annotation 100: 'bbox' must be \[x, y, w, h\]"):
        CocoDataset(coco_root / "val2017", ann)
