"""Class lists, the Sample contract, error messages and open_dataset."""

from pathlib import Path

import numpy as np
import pytest

import datasets
from datasets import DET_CLASSES, SEG_CLASSES, SEG_IGNORE_INDEX, DatasetFormatError, Sample, open_dataset


def test_class_lists_in_network_order():
    assert DET_CLASSES == ("car", "truck", "bus", "pedestrian", "cyclist", "motorcyclist", "traffic_cone")
    assert SEG_CLASSES == ("road", "sidewalk", "building", "vegetation", "sky", "pole", "sign", "fence", "car",
                           "pedestrian", "cyclist")
    assert SEG_IGNORE_INDEX == 255


def test_every_class_map_targets_our_classes():
    for name in ("APOLLO_CLASS_MAP", "BDD100K_CLASS_MAP", "COCO_CLASS_MAP", "KITTI_CLASS_MAP"):
        for target in getattr(datasets, name).values():
            assert target in DET_CLASSES or target in (None, datasets.IGNORE_REGION), (name, target)
    for name in ("CAMVID_CLASS_MAP", "CITYSCAPES_CLASS_MAP", "BDD100K_DRIVABLE_MAP"):
        for target in getattr(datasets, name).values():
            assert target in SEG_CLASSES or target is None, (name, target)


def _img():
    return np.zeros((20, 30, 3), np.uint8)


def test_none_means_not_annotated_empty_means_nothing_there():
    Sample(_img()).validate()
    Sample(_img(), boxes_xyxy=np.zeros((0, 4), np.float32), labels=np.zeros(0, np.int64), lanes=[]).validate()


@pytest.mark.parametrize("fields, message", [
    (dict(boxes_xyxy=np.array([[0, 0, 40, 10]], np.float32), labels=np.array([0])), "outside the 30x20 image"),
    (dict(boxes_xyxy=np.array([[5, 0, 4, 10]], np.float32), labels=np.array([0])), "x2 <= x1"),
    (dict(boxes_xyxy=np.array([[0, 0, 4, 10]], np.float32), labels=None), "both be None"),
    (dict(boxes_xyxy=np.array([[0, 0, 4, 10]], np.float32), labels=np.array([7])), "labels outside 0..6"),
    (dict(boxes_xyxy=np.array([[0, 0, 4, 10]]), labels=np.array([0])), "must be float32"),
    (dict(seg_mask=np.full((20, 30), 11, np.uint8)), r"seg_mask has values \[11\]"),
    (dict(seg_mask=np.zeros((10, 30), np.uint8)), "seg_mask must be uint8"),
    (dict(lanes=[np.array([[1, 2], [3, 19]], np.float32)]), "not ordered bottom to top"),
    (dict(lanes=[np.array([[1, 2]], np.float32)]), "1 point"),
    (dict(lanes=[np.array([[1, 19], [3, 2]], np.float32)], lane_sides=["middle"]), "unknown lane sides"),
])
def test_validate_names_the_problem(fields, message):
    with pytest.raises(ValueError, match=message):
        Sample(_img(), source="x.png", **fields).validate()


def test_format_error_message_and_attributes():
    e = DatasetFormatError("bad", "a/b.txt", 7)
    assert str(e) == "a/b.txt:7: bad" and e.path == "a/b.txt" and e.line == 7 and isinstance(e, ValueError)
    assert str(DatasetFormatError("bad", "a/b.txt")) == "a/b.txt: bad"


def test_unknown_kind_lists_the_known_ones(tmp_path):
    with pytest.raises(ValueError, match="unknown dataset kind 'pascal'; expected one of: apollo, bdd100k, camvid"):
        open_dataset("pascal", tmp_path, "train")


def test_index_errors_end_iteration(tmp_path):
    (tmp_path / "train.txt").write_text("")
    ds = datasets.CamVidDataset(tmp_path, "train")
    assert len(ds) == 0 and list(ds) == []
    with pytest.raises(IndexError):
        ds[0]


@pytest.mark.filterwarnings("ignore:.*listed but missing")
@pytest.mark.parametrize("kind, folder, split, n", [
    ("camvid", "camvid", "train", 367),
    ("apollo", "apollo_2d_obstacle_dotah88", "trainval", 98),
    ("kitti", "kitti_object_6frames", "trainval", 6),
    ("tusimple", "tusimple_sample_512x288", "train", 10),
    ("tusimple_lanenet", "tusimple_lanenet_masks/data/training_data_example", "train", 6),
    ("cityscapes", "cityscapes_mmseg_1frame", "val", 1),
])
def test_open_dataset_on_shared_data(kind, folder, split, n):
    root = Path(__file__).resolve().parents[2] / "shared" / "data" / folder
    if not root.is_dir():
        pytest.skip(f"shared test data not found: {root} (the shared/ folder sits beside the repo folder)")
    ds = open_dataset(kind, root, split)
    assert len(ds) == n
    s = ds[len(ds) - 1]
    assert isinstance(s, Sample) and s.source and s.meta["dataset"] in kind
