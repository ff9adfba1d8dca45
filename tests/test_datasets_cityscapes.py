"""Cityscapes reader on the one downscaled gtFine frame (shared/data/cityscapes_mmseg_1frame)."""

from pathlib import Path

import cv2
import pytest

from datasets import SEG_CLASSES, SEG_IGNORE_INDEX, CityscapesDataset, DatasetFormatError, open_dataset
from datasets.cityscapes import trainids_from_labelids

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
STEM = "frankfurt_000000_000294"


def data_dir(name: str) -> Path:
    p = DATA / name
    if not p.is_dir():
        pytest.skip(f"shared test data not found: {p} (the shared/ folder sits beside the repo folder)")
    return p


def test_labelids_to_trainids_agrees_with_the_shipped_trainids():
    gt = data_dir("cityscapes_mmseg_1frame") / "gtFine" / "val" / "frankfurt"
    label_ids = cv2.imread(str(gt / f"{STEM}_gtFine_labelIds.png"), cv2.IMREAD_UNCHANGED)
    train_ids = cv2.imread(str(gt / f"{STEM}_gtFine_labelTrainIds.png"), cv2.IMREAD_UNCHANGED)
    # both files were downscaled separately by their provider, so ~0.2% of pixels (on edges) differ
    assert (trainids_from_labelids(label_ids) == train_ids).mean() > 0.99


def test_frame_maps_to_our_classes():
    root = data_dir("cityscapes_mmseg_1frame")
    ds = open_dataset("cityscapes", root, "val")
    assert len(ds) == 1
    s = ds[0]
    assert s.image_bgr.shape == (128, 256, 3) and s.seg_mask.shape == (128, 256)
    label_ids = cv2.imread(str(root / "gtFine" / "val" / "frankfurt" / f"{STEM}_gtFine_labelIds.png"),
                           cv2.IMREAD_UNCHANGED)
    for cs_id, ours in [(7, "road"), (8, "sidewalk"), (11, "building"), (21, "vegetation"), (23, "sky"),
                        (24, "pedestrian"), (26, "car"), (20, "sign")]:
        px = s.seg_mask[label_ids == cs_id]
        assert px.size > 0 and (px == SEG_CLASSES.index(ours)).all(), cs_id
    assert (s.seg_mask[label_ids <= 6] == SEG_IGNORE_INDEX).all()  # unlabeled, ego vehicle, ... ground
    via_train_ids = CityscapesDataset(root, "val", label_kind="trainIds")[0].seg_mask
    assert (via_train_ids == s.seg_mask).mean() > 0.99


def test_label_with_unknown_id_names_file(tmp_path):
    root = data_dir("cityscapes_mmseg_1frame")
    (tmp_path / "leftImg8bit" / "val").mkdir(parents=True)
    (tmp_path / "leftImg8bit" / "val" / "frankfurt").symlink_to(root / "leftImg8bit" / "val" / "frankfurt")
    gt = tmp_path / "gtFine" / "val" / "frankfurt"
    gt.mkdir(parents=True)
    m = cv2.imread(str(root / "gtFine" / "val" / "frankfurt" / f"{STEM}_gtFine_labelIds.png"), cv2.IMREAD_UNCHANGED)
    m[5, 5] = 77
    cv2.imwrite(str(gt / f"{STEM}_gtFine_labelIds.png"), m)
    with pytest.raises(DatasetFormatError, match=rf"{STEM}_gtFine_labelIds\.png: values \[77\]"):
        CityscapesDataset(tmp_path, "val")[0]
